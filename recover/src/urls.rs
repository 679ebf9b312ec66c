//! `recover urls`: the stack's webhook URLs, ready to register by hand, with the header values
//! that go with them. The output holds the tokens: it is for the operator's terminal, not for a
//! ticket or a log.

use base64::Engine;

use crate::deployment::{iugu_routes, Stack, Tokens};
use crate::report::Table;

/// The text `urls` prints.
pub fn render(stack: &Stack, tokens: &Tokens) -> String {
    let iugu = tokens.iugu.expose();
    let ipag = tokens.ipag.expose();
    let basic = base64::engine::general_purpose::STANDARD.encode(iugu);
    let mut out = String::new();
    out.push_str(&format!("Stack {} ({})\n\n", stack.name, stack.api));

    out.push_str(
        "iugu, by API (`recover register` does this): no token in the URL; the webhook's \
         `authorization` is the token,\nwhich iugu sends back as the Authorization header of \
         every delivery (accepted as sent, or as Basic base64):\n",
    );
    let mut table = Table::new(&["family", "url"]);
    for (family, path) in iugu_routes() {
        let name = if path == webhook_iugu::route_path(webhook_iugu::Family::Other) {
            "all events (register event `all`)".to_owned()
        } else {
            family.as_str().to_owned()
        };
        table.row(vec![name, stack.route(path)]);
    }
    out.push_str(&indent(&table.render()));
    out.push_str(&format!("  authorization: {iugu}\n"));
    out.push_str(&format!(
        "  (a delivery then carries `Authorization: {iugu}` or `Authorization: Basic {basic}`)\n\n"
    ));

    out.push_str(
        "iugu, in the panel (alia.iugu.com > Configurações > Integrações > Comunicação via \
         Gatilho), which takes a URL only:\n",
    );
    let mut table = Table::new(&["family", "url"]);
    for (family, path) in iugu_routes() {
        table.row(vec![
            family.as_str().to_owned(),
            format!("{}?token={iugu}", stack.route(path)),
        ]);
    }
    out.push_str(&indent(&table.render()));
    out.push('\n');

    out.push_str("iPag (POST /service/resources/webhooks, http_method POST or PUT):\n");
    out.push_str(&format!(
        "  {}?token={ipag}\n",
        stack.route(webhook_ipag::ROUTE)
    ));
    if let Some(alarm) = &stack.alarm_test {
        out.push_str(&format!(
            "\nDoes an alarm reach you? aws cloudwatch set-alarm-state --alarm-name {alarm} \
             --state-value ALARM --state-reason \"test: does the notification arrive?\"\n"
        ));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
