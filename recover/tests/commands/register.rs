//! `recover urls` and `recover register` against a stack in the local server and stand-ins for
//! iugu's and iPag's webhook APIs (`stand_ins`): the first run registers, the second changes
//! nothing, a layout that would pass iugu's limit of 20 is refused before any call, and no
//! token is ever printed by `register`.

use crate::stand_ins::{
    recover, register_env, stack, text, Ipag, Iugu, API, IPAG_TOKEN, IUGU_API_TOKEN, IUGU_TOKEN,
};

fn writes(calls: &[(String, String, u16)]) -> Vec<(String, String, u16)> {
    calls
        .iter()
        .filter(|(verb, _, _)| verb != "GET")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_prints_every_url_and_header_value_ready_to_use() {
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let out = recover(&["urls"], &[("STACK_NAME", name.clone())]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    assert!(text(&out.stderr).contains("holds the webhook tokens"));
    for needle in [
        format!("{API}/iugu/events"),
        format!("{API}/iugu/invoices"),
        format!("authorization: {IUGU_TOKEN}"),
        format!("{API}/iugu/invoices?token={IUGU_TOKEN}"),
        format!("{API}/ipag/events?token={IPAG_TOKEN}"),
        format!("set-alarm-state --alarm-name {name}-QuarantineAlarm"),
    ] {
        assert!(stdout.contains(&needle), "no `{needle}` in:\n{stdout}");
    }
    // iPag's token never goes on an iugu URL, nor iugu's on iPag's.
    assert!(!stdout.contains(&format!("ipag/events?token={IUGU_TOKEN}")));
    assert!(!stdout.contains(&format!("iugu/events?token={IPAG_TOKEN}")));

    let missing = recover(&["urls", "--stack", "no-such-stack"], &[]).await;
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_run_registers_and_the_second_changes_nothing() {
    let (iugu, ipag) = (Iugu::start(2).await, Ipag::start().await);
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let env = register_env(&name, &iugu, &ipag);

    let first = recover(&["register"], &env).await;
    let stdout = text(&first.stdout);
    assert!(first.status.success(), "{}{stdout}", text(&first.stderr));
    // iugu: one webhook, every event to /iugu/events, the token as its authorization only.
    let ours: Vec<_> = iugu
        .hooks()
        .into_iter()
        .filter(|h| h.url.starts_with(API))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        (
            ours[0].event.as_str(),
            ours[0].url.clone(),
            ours[0].extra.as_str()
        ),
        ("all", format!("{API}/iugu/events"), IUGU_TOKEN)
    );
    assert_eq!(
        iugu.hooks().len(),
        3,
        "the other systems' webhooks are left alone"
    );
    // iPag: one webhook for its 16 events, the token in the URL.
    let hooks = ipag.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0].url,
        format!("{API}/ipag/events?token={IPAG_TOKEN}")
    );
    assert_eq!(hooks[0].extra.split(',').count(), 16);
    assert_eq!(stdout.matches("created").count(), 2, "{stdout}");
    for secret in [IUGU_TOKEN, IPAG_TOKEN, IUGU_API_TOKEN] {
        assert!(
            !stdout.contains(secret) && !text(&first.stderr).contains(secret),
            "{stdout}"
        );
    }

    let (iugu_before, ipag_before) = (writes(&iugu.calls()).len(), writes(&ipag.calls()).len());
    let second = recover(&["register"], &env).await;
    let stdout = text(&second.stdout);
    assert!(second.status.success(), "{}{stdout}", text(&second.stderr));
    assert_eq!(
        writes(&iugu.calls()).len(),
        iugu_before,
        "iugu: {:?}",
        iugu.calls()
    );
    assert_eq!(
        writes(&ipag.calls()).len(),
        ipag_before,
        "iPag: {:?}",
        ipag.calls()
    );
    assert_eq!(
        stdout.matches("kept (already registered)").count(),
        2,
        "{stdout}"
    );
    assert_eq!(iugu.hooks().len(), 3);
    assert_eq!(ipag.hooks().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_layout_that_would_pass_the_limit_is_refused_before_any_call() {
    let (iugu, ipag) = (Iugu::start(19).await, Ipag::start().await);
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let env = register_env(&name, &iugu, &ipag);

    let refused = recover(&["register", "--own-route", "invoices,subscriptions"], &env).await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("at most 20 webhooks") && stderr.contains("Nothing was changed"),
        "{stderr}"
    );
    assert!(writes(&iugu.calls()).is_empty(), "{:?}", iugu.calls());
    assert!(
        ipag.calls().is_empty(),
        "iPag is not called when the plan is refused"
    );

    // The default layout takes the one slot left.
    let fits = recover(&["register", "--gateway", "iugu"], &env).await;
    assert!(fits.status.success(), "{}", text(&fits.stderr));
    assert_eq!(iugu.hooks().len(), 20);
    assert!(iugu.calls().iter().all(|(_, _, status)| *status != 422));
}

#[tokio::test(flavor = "multi_thread")]
async fn chosen_events_go_to_their_own_routes_one_webhook_each() {
    let (iugu, ipag) = (Iugu::start(0).await, Ipag::start().await);
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let env = register_env(&name, &iugu, &ipag);
    // Every one of the 33 events on a webhook of its own does not fit in 20: refused.
    let refused = recover(
        &["register", "--gateway", "iugu", "--own-route", "invoices"],
        &env,
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(iugu.hooks().is_empty());

    let args = [
        "register",
        "--gateway",
        "iugu",
        "--events",
        "invoice.*,subscription.suspended",
        "--own-route",
        "invoices",
    ];
    let first = recover(&args, &env).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let hooks = iugu.hooks();
    assert_eq!(hooks.len(), 12, "{hooks:?}");
    for hook in &hooks {
        let route = if hook.event.starts_with("invoice.") {
            "/iugu/invoices"
        } else {
            "/iugu/events"
        };
        assert_eq!(hook.url, format!("{API}{route}"), "{hook:?}");
        assert_eq!(hook.extra, IUGU_TOKEN);
    }
    let before = writes(&iugu.calls()).len();
    let second = recover(&args, &env).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(
        writes(&iugu.calls()).len(),
        before,
        "the second run changed something"
    );

    // Back to the default layout: `all` is created, the twelve are left until --prune.
    let back = recover(&["register", "--gateway", "iugu"], &env).await;
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert_eq!(text(&back.stdout).matches("left: this stack's").count(), 12);
    let pruned = recover(&["register", "--gateway", "iugu", "--prune"], &env).await;
    assert!(pruned.status.success(), "{}", text(&pruned.stderr));
    assert_eq!(iugu.hooks().len(), 1);
    assert_eq!(iugu.hooks()[0].event, "all");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_url_with_the_token_is_replaced_only_with_prune_and_within_the_limit() {
    let (iugu, ipag) = (Iugu::start(19).await, Ipag::start().await);
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let env = register_env(&name, &iugu, &ipag);
    iugu.add(
        "invoice.status_changed",
        &format!("{API}/iugu/invoices?token={IUGU_TOKEN}"),
    );

    // 20 held; `all` to create, the old one kept: 21. Refused, and says --prune.
    let refused = recover(&["register", "--gateway", "iugu"], &env).await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--prune"), "{stderr}");
    assert!(writes(&iugu.calls()).is_empty());

    // With --prune: the old one is deleted first (creating first would be the 21st), then `all`.
    let pruned = recover(&["register", "--gateway", "iugu", "--prune"], &env).await;
    let (stdout, stderr) = (text(&pruned.stdout), text(&pruned.stderr));
    assert!(pruned.status.success(), "{stderr}{stdout}");
    assert!(stderr.contains("deleting first"), "{stderr}");
    let writes = writes(&iugu.calls());
    assert_eq!(
        writes
            .iter()
            .map(|(v, _, s)| (v.as_str(), *s))
            .collect::<Vec<_>>(),
        [("DELETE", 200), ("POST", 200)]
    );
    assert_eq!(iugu.hooks().len(), 20);
    assert!(iugu.hooks().iter().all(|h| !h.url.contains("token=")));
    // The printed URL hides the token.
    assert!(
        stdout.contains("token=<token>") && !stdout.contains(IUGU_TOKEN),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_iugu_refuses_is_reported_and_fails_the_run() {
    let (iugu, ipag) = (Iugu::start(0).await, Ipag::start().await);
    // Someone else filled the account after our list.
    iugu.hide(20);
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let out = recover(&["register"], &register_env(&name, &iugu, &ipag)).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("failed: iugu answered 422"), "{stdout}");
    // iPag was still registered.
    assert_eq!(ipag.hooks().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_credentials_are_refused_before_any_call() {
    let (iugu, ipag) = (Iugu::start(0).await, Ipag::start().await);
    let name = stack(API, "events", "https://sqs/q.fifo").await;
    let mut env = register_env(&name, &iugu, &ipag);
    env.retain(|(k, _)| *k != "IPAG_API_KEY");
    let out = recover(&["register"], &env).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("IPAG_API_KEY is not set"));
    assert!(iugu.calls().is_empty() && ipag.calls().is_empty());
}

/// Step 3 of rotating iugu's token: `--renew` makes the stack's webhook again with the new
/// token as its `authorization` (iugu's list does not show it), then deletes the previous one.
#[tokio::test(flavor = "multi_thread")]
async fn renew_registers_the_new_token_then_drops_the_old_webhook() {
    let (iugu, ipag) = (Iugu::start(0).await, Ipag::start().await);
    let before = stack(API, "events", "https://sqs/q.fifo").await;
    let first = recover(
        &["register", "--gateway", "iugu"],
        &register_env(&before, &iugu, &ipag),
    )
    .await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let old = iugu.hooks();
    assert_eq!(old.len(), 1);

    // The same API, its iugu secret now holding a new token.
    const NEW: &str = "iugu-webhook-token-rotated-0123";
    let after = crate::stand_ins::stack_with(API, "events", "https://sqs/q.fifo", NEW).await;
    let env = register_env(&after, &iugu, &ipag);
    let plain = recover(&["register", "--gateway", "iugu"], &env).await;
    assert!(plain.status.success());
    assert_eq!(iugu.hooks(), old, "without --renew nothing changes");

    let renewed = recover(&["register", "--gateway", "iugu", "--renew"], &env).await;
    let stdout = text(&renewed.stdout);
    assert!(
        renewed.status.success(),
        "{}{stdout}",
        text(&renewed.stderr)
    );
    let hooks = iugu.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        (hooks[0].event.as_str(), hooks[0].extra.as_str()),
        ("all", NEW)
    );
    assert_ne!(hooks[0].id, old[0].id);
    // Created first, then the old one deleted: no moment without a webhook.
    let writes: Vec<_> = writes(&iugu.calls())
        .into_iter()
        .map(|(v, _, _)| v)
        .collect();
    assert_eq!(writes, ["POST", "POST", "DELETE"]);
    assert!(!stdout.contains(NEW), "{stdout}");
}
