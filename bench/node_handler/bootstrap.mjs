// A minimal Node.js Lambda runtime: import the handler (init), then the Runtime API loop
// (GET .../invocation/next, call the handler, POST .../response) over a kept-alive connection.
import http from "node:http";
import { handler } from "./handler.mjs";

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const API = "/2018-06-01/runtime/invocation";

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

for (;;) {
  const next = await call("GET", `${API}/next`);
  const id = next.headers["lambda-runtime-aws-request-id"];
  let result, kind = "response";
  try {
    result = await handler(JSON.parse(next.body));
  } catch (e) {
    [result, kind] = [{ errorMessage: String(e), errorType: e.name }, "error"];
  }
  await call("POST", `${API}/${id}/${kind}`, JSON.stringify(result));
}
