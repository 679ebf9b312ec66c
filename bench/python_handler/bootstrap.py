"""A minimal Python Lambda runtime: import the handler (init), then the Runtime API loop.

What AWS's Python runtime does, without its extras: GET .../invocation/next, call the handler,
POST .../response, over one kept-alive connection to AWS_LAMBDA_RUNTIME_API.
"""

import http.client
import json
import os

import handler  # init: imports boto3, builds the two clients

API = "/2018-06-01/runtime/invocation"


def main():
    conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    while True:
        conn.request("GET", API + "/next")
        reply = conn.getresponse()
        request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
        event = json.loads(reply.read())
        try:
            result, kind = handler.handler(event, None), "response"
        except Exception as e:  # the runtime reports any error, as AWS's does
            result, kind = {"errorMessage": str(e), "errorType": type(e).__name__}, "error"
        conn.request("POST", f"{API}/{request_id}/{kind}", body=json.dumps(result))
        conn.getresponse().read()


if __name__ == "__main__":
    main()
