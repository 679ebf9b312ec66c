//! `recover register`: this stack's URLs registered at iugu and iPag, so that running it again
//! changes nothing.
//!
//! **iugu.** Creating a webhook is not idempotent (the same call twice makes two) and an
//! account holds at most 20 ([`crate::iugu_api::WEB_HOOK_LIMIT`]); "one URL per event" (33 events) does not
//! fit. So the layout is, by default, one webhook: event `all` to `/iugu/events` (whose function
//! takes every event). With `--events` (the events the consumers need) and `--own-route
//! <family>...`, one webhook per event: those of the families named on their family's route,
//! the others on `/iugu/events`. Never `all` beside per-event webhooks: an event would come
//! twice, on two routes, and a second copy arriving after a later notification of its entity
//! would be taken for a new occurrence. The plan counts the webhooks and refuses before any
//! call if they would not fit beside the account's other webhooks. The token travels as the
//! webhook's `authorization` (iugu sends it back in the `Authorization` header of every
//! delivery), so it is in no URL.
//!
//! **iPag.** One webhook, `/ipag/events?token=<iPag's token>` (iPag sends no header of ours),
//! for its 16 events.
//!
//! Both: list first; a webhook of this stack (its URL on the stack's host) that is wanted is
//! kept; a wanted one that is missing is created; one of this stack that is not wanted (an old
//! layout, a URL with the token in it, a copy made by a create that timed out) is left, and
//! listed, unless `--prune` deletes it. Webhooks of other hosts are never touched. When
//! creating first would pass the limit, the deletions come first (and the output says so).

use crate::deployment::{redacted, Stack, Tokens};
use crate::error::RecoverError;
use crate::ipag_api::{IpagWebHook, IpagWebHooksApi};
use crate::iugu_api::{WebHook, WebHooksApi};
use crate::report::Table;
use webhook_iugu::Family;

/// iugu's event that subscribes a webhook to every event.
pub const ALL_EVENTS: &str = "all";

/// Which iugu events are registered, and on which route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Families whose events go to their own routes; the others go to `/iugu/events`.
    pub own_routes: Vec<Family>,
    /// The events to register, by name or `prefix.*`; empty: every event.
    pub events: Vec<String>,
}

impl Layout {
    /// One webhook, `all` to `/iugu/events`.
    pub fn is_all_events(&self) -> bool {
        self.own_routes.is_empty() && self.events.is_empty()
    }

    fn selects(&self, event: &str) -> bool {
        self.events.is_empty()
            || self
                .events
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => event.starts_with(prefix),
                    None => event == pattern,
                })
    }
}

/// A webhook the layout asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub event: String,
    pub url: String,
}

/// The webhooks `layout` asks for on `stack`, given the events the account may register
/// (`supported`; unused for the default layout). A pattern of `--events` that selects no
/// supported event is refused.
pub fn wanted_iugu(
    stack: &Stack,
    layout: &Layout,
    supported: &[String],
) -> Result<Vec<Wanted>, RecoverError> {
    let all_route = webhook_iugu::route_path(Family::Other);
    if layout.is_all_events() {
        return Ok(vec![Wanted {
            event: ALL_EVENTS.to_owned(),
            url: stack.route(all_route),
        }]);
    }
    for pattern in &layout.events {
        let one = Layout {
            own_routes: Vec::new(),
            events: vec![pattern.clone()],
        };
        if !supported.iter().any(|e| one.selects(e)) {
            return Err(RecoverError::Refused(format!(
                "--events `{pattern}` selects no event iugu lists as supported for this account \
                 (GET /v1/web_hooks/supported_events)"
            )));
        }
    }
    let mut wanted: Vec<Wanted> = supported
        .iter()
        .filter(|e| e.as_str() != ALL_EVENTS && layout.selects(e))
        .map(|event| {
            let family = Family::of_event(event);
            let route = if layout.own_routes.contains(&family) {
                webhook_iugu::route_path(family)
            } else {
                all_route
            };
            Wanted {
                event: event.clone(),
                url: stack.route(route),
            }
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

/// What `register` may do to this stack's webhooks beyond creating the missing ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Delete this stack's webhooks that the layout does not want.
    pub prune: bool,
    /// Make every wanted webhook again, with the current token as its `authorization` (iugu
    /// lists no `authorization` to compare), and delete the previous ones: step 3 of rotating
    /// a token (docs/operations.md). Implies `prune`.
    pub renew: bool,
}

impl Policy {
    pub const PRUNE: Policy = Policy {
        prune: true,
        renew: false,
    };
}

/// What `register` does at iugu.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub keep: Vec<WebHook>,
    pub create: Vec<Wanted>,
    /// This stack's webhooks that are not wanted: deleted with `--prune`, else left.
    pub extra: Vec<WebHook>,
    pub prune: bool,
    /// Webhooks of other hosts (other systems): never touched, but they count.
    pub others: usize,
    /// Delete before creating (creating first would pass the limit).
    pub delete_first: bool,
}

impl Plan {
    /// How many webhooks the account holds once the plan is done.
    pub fn after(&self) -> usize {
        let removed = if self.prune { 0 } else { self.extra.len() };
        self.others + self.keep.len() + self.create.len() + removed
    }
}

/// Plans the iugu side: `existing` (what iugu lists), `wanted` (the layout's), `host` (this
/// stack's). Refused, before any call, when the result would not fit in `limit`.
pub fn plan_iugu(
    existing: &[WebHook],
    wanted: &[Wanted],
    host: &str,
    policy: Policy,
    limit: usize,
) -> Result<Plan, RecoverError> {
    let ours = |w: &WebHook| url_host(&w.url).as_deref() == Some(host);
    let prune = policy.prune || policy.renew;
    let mut plan = Plan {
        prune,
        ..Plan::default()
    };
    let mut missing: Vec<Wanted> = wanted.to_vec();
    for hook in existing {
        if !ours(hook) {
            plan.others += 1;
            continue;
        }
        let found = missing
            .iter()
            .position(|w| w.event == hook.event && w.url == hook.url);
        // Renewing: every webhook of this stack is made again (with the current token).
        match found.filter(|_| !policy.renew) {
            Some(i) => {
                missing.remove(i);
                plan.keep.push(hook.clone());
            }
            // Not wanted, or a second copy of a wanted one.
            None => plan.extra.push(hook.clone()),
        }
    }
    plan.create = if policy.renew {
        wanted.to_vec()
    } else {
        missing
    };
    let total = existing.len();
    let after = plan.after();
    if after > limit {
        return Err(RecoverError::Refused(format!(
            "iugu holds at most {limit} webhooks per account: this plan would leave {after} \
             ({} of other systems, {} of this stack kept, {} to create{}). Nothing was changed. \
             Register `all` (the default layout), or fewer events (--events){}",
            plan.others,
            plan.keep.len(),
            plan.create.len(),
            if prune {
                String::new()
            } else {
                format!(", {} of this stack not wanted", plan.extra.len())
            },
            if prune || plan.extra.is_empty() {
                ""
            } else {
                ", or add --prune to remove this stack's webhooks that are not wanted"
            }
        )));
    }
    plan.delete_first = prune && total + plan.create.len() > limit;
    Ok(plan)
}

fn url_host(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// One line of what `register` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub gateway: &'static str,
    pub event: String,
    /// Printed with the token hidden.
    pub url: String,
    pub action: String,
}

impl Done {
    fn new(gateway: &'static str, event: &str, url: &str, action: impl Into<String>) -> Done {
        Done {
            gateway,
            event: event.to_owned(),
            url: redacted(url),
            action: action.into(),
        }
    }

    pub fn failed(&self) -> bool {
        self.action.starts_with("failed")
    }
}

/// Carries out `plan` at iugu (nothing with `dry_run`). A failed call is a line of the report,
/// and the others still run; a create that got no answer may have been made: the next run lists
/// it.
pub async fn apply_iugu(
    api: &impl WebHooksApi,
    plan: &Plan,
    authorization: &str,
    dry_run: bool,
) -> Vec<Done> {
    let mut done = Vec::new();
    for hook in &plan.keep {
        done.push(Done::new(
            "iugu",
            &hook.event,
            &hook.url,
            "kept (already registered)",
        ));
    }
    if plan.delete_first {
        delete_extra(api, plan, dry_run, &mut done).await;
    }
    for wanted in &plan.create {
        if dry_run {
            done.push(Done::new(
                "iugu",
                &wanted.event,
                &wanted.url,
                "would create",
            ));
            continue;
        }
        let action = match api
            .create_web_hook(&wanted.event, &wanted.url, authorization)
            .await
        {
            Ok(_) => "created".to_owned(),
            Err(e) => format!(
                "failed: {e} (iugu may have made it anyway: run register again, it lists first)"
            ),
        };
        done.push(Done::new("iugu", &wanted.event, &wanted.url, action));
    }
    if !plan.delete_first {
        delete_extra(api, plan, dry_run, &mut done).await;
    }
    done
}

/// This stack's webhooks that are not wanted: deleted with `--prune`, else listed as left.
async fn delete_extra(api: &impl WebHooksApi, plan: &Plan, dry_run: bool, done: &mut Vec<Done>) {
    for hook in &plan.extra {
        let action = if !plan.prune {
            "left: this stack's, not wanted (--prune removes it)".to_owned()
        } else if dry_run {
            "would delete".to_owned()
        } else {
            match api.delete_web_hook(&hook.id).await {
                Ok(()) => "deleted".to_owned(),
                Err(e) => format!("failed to delete: {e}"),
            }
        };
        done.push(Done::new("iugu", &hook.event, &hook.url, action));
    }
}

/// iPag's side: one webhook for every event at `/ipag/events?token=<token>`.
pub async fn register_ipag(
    api: &impl IpagWebHooksApi,
    stack: &Stack,
    tokens: &Tokens,
    prune: bool,
    dry_run: bool,
) -> Result<Vec<Done>, RecoverError> {
    let mut url = reqwest::Url::parse(&stack.route(webhook_ipag::ROUTE))
        .map_err(|e| RecoverError::Refused(format!("the iPag URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("token", tokens.ipag.expose());
    let url = url.to_string();
    let actions: Vec<&str> = webhook_ipag::IpagEvent::KNOWN.to_vec();
    let existing = api.list_web_hooks().await?;
    let host = stack.host();
    let ours = |w: &IpagWebHook| url_host(&w.url) == host;
    let complete =
        |w: &IpagWebHook| w.url == url && actions.iter().all(|a| w.actions.iter().any(|x| x == a));
    let events = format!("{} events", actions.len());
    let mut done = Vec::new();
    let mut kept = false;
    let mut extra = Vec::new();
    for hook in existing.iter().filter(|w| ours(w)) {
        if !kept && complete(hook) {
            kept = true;
            done.push(Done::new(
                "ipag",
                &events,
                &hook.url,
                "kept (already registered)",
            ));
        } else {
            extra.push(hook.clone());
        }
    }
    if !kept {
        let action = if dry_run {
            "would create".to_owned()
        } else {
            match api.create_web_hook(&url, &actions).await {
                Ok(_) => "created".to_owned(),
                Err(e) => format!("failed: {e} (run register again: it lists first)"),
            }
        };
        done.push(Done::new("ipag", &events, &url, action));
    }
    for hook in extra {
        let what = format!("{} events", hook.actions.len());
        let action = if !prune {
            "left: this stack's, not wanted (--prune removes it)".to_owned()
        } else if dry_run {
            "would delete".to_owned()
        } else {
            match api.delete_web_hook(&hook.id).await {
                Ok(()) => "deleted".to_owned(),
                Err(e) => format!("failed to delete: {e}"),
            }
        };
        done.push(Done::new("ipag", &what, &hook.url, action));
    }
    Ok(done)
}

/// The report: one line per webhook.
pub fn report(done: &[Done]) -> String {
    let mut table = Table::new(&["gateway", "event", "url", "result"]);
    for d in done {
        table.row(vec![
            d.gateway.to_owned(),
            d.event.clone(),
            d.url.clone(),
            d.action.clone(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stack() -> Stack {
        let outputs: BTreeMap<String, String> = [
            (
                "ApiEndpoint",
                "https://abc.execute-api.sa-east-1.amazonaws.com",
            ),
            ("EventsTableName", "t"),
            ("EventsQueueUrl", "q"),
            ("IuguWebhookSecretArn", "a"),
            ("IpagWebhookSecretArn", "b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Stack::from_outputs("webhooks", &outputs).expect("stack")
    }

    fn hook(id: usize, event: &str, url: &str) -> WebHook {
        WebHook {
            id: id.to_string(),
            event: event.to_owned(),
            url: url.to_owned(),
        }
    }

    const HOST: &str = "abc.execute-api.sa-east-1.amazonaws.com";

    fn supported() -> Vec<String> {
        webhook_iugu::EventName::KNOWN
            .iter()
            .map(|e| (*e).to_owned())
            .collect()
    }

    fn own(families: Vec<Family>, events: &[&str]) -> Layout {
        Layout {
            own_routes: families,
            events: events.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn the_default_layout_is_one_webhook_for_every_event() {
        let wanted = wanted_iugu(&stack(), &Layout::default(), &supported()).expect("wanted");
        assert_eq!(
            wanted,
            vec![Wanted {
                event: "all".into(),
                url: "https://abc.execute-api.sa-east-1.amazonaws.com/iugu/events".into()
            }]
        );
    }

    #[test]
    fn own_routes_send_their_families_home_and_the_rest_to_all_events() {
        let wanted =
            wanted_iugu(&stack(), &own(vec![Family::Invoices], &[]), &supported()).expect("wanted");
        assert_eq!(wanted.len(), 33);
        for w in &wanted {
            let expected = if w.event.starts_with("invoice.") {
                "/iugu/invoices"
            } else {
                "/iugu/events"
            };
            assert!(w.url.ends_with(expected), "{w:?}");
        }
        let few = wanted_iugu(
            &stack(),
            &own(
                vec![Family::Invoices],
                &["invoice.*", "subscription.suspended"],
            ),
            &supported(),
        )
        .expect("wanted");
        assert_eq!(few.len(), 12, "{few:?}");
        assert!(few.iter().all(|w| w.event != "all"));
        assert!(few
            .iter()
            .any(|w| w.event == "subscription.suspended" && w.url.ends_with("/iugu/events")));
        let none = wanted_iugu(&stack(), &own(vec![], &["charge.*"]), &supported());
        assert!(
            matches!(&none, Err(RecoverError::Refused(m)) if m.contains("charge.*")),
            "{none:?}"
        );
    }

    #[test]
    fn a_second_run_keeps_what_the_first_made() {
        let wanted = wanted_iugu(&stack(), &Layout::default(), &supported()).expect("wanted");
        let existing = vec![
            hook(1, "all", &wanted[0].url),
            hook(2, "invoice.created", "https://erp.example.com/hooks"),
        ];
        let plan = plan_iugu(&existing, &wanted, HOST, Policy::default(), 20).expect("a plan");
        assert_eq!(
            (
                plan.keep.len(),
                plan.create.len(),
                plan.extra.len(),
                plan.others
            ),
            (1, 0, 0, 1)
        );
    }

    #[test]
    fn an_old_url_with_the_token_is_extra_and_pruned_only_when_asked() {
        let wanted = wanted_iugu(&stack(), &Layout::default(), &supported()).expect("wanted");
        let old = hook(
            3,
            "invoice.status_changed",
            "https://abc.execute-api.sa-east-1.amazonaws.com/iugu/invoices?token=x",
        );
        let plan = plan_iugu(
            std::slice::from_ref(&old),
            &wanted,
            HOST,
            Policy::default(),
            20,
        )
        .expect("a plan");
        assert_eq!(plan.extra, vec![old.clone()]);
        assert_eq!(plan.create, wanted);
        assert_eq!(plan.after(), 2);
        let plan = plan_iugu(&[old], &wanted, HOST, Policy::PRUNE, 20).expect("a plan");
        assert_eq!(plan.after(), 1);
        assert!(!plan.delete_first);
    }

    #[test]
    fn a_plan_that_would_pass_the_limit_is_refused_before_any_call() {
        let others: Vec<WebHook> = (0..19)
            .map(|i| hook(i, "invoice.created", &format!("https://erp{i}.example.com")))
            .collect();
        let wanted =
            wanted_iugu(&stack(), &own(vec![Family::Invoices], &[]), &supported()).expect("wanted");
        let refused = plan_iugu(&others, &wanted, HOST, Policy::PRUNE, 20);
        assert!(
            matches!(&refused, Err(RecoverError::Refused(m)) if m.contains("at most 20") && m.contains("52")),
            "{refused:?}"
        );
        // One slot left: `all` fits.
        let all = wanted_iugu(&stack(), &Layout::default(), &supported()).expect("wanted");
        assert_eq!(
            plan_iugu(&others, &all, HOST, Policy::default(), 20)
                .map(|p| p.after())
                .ok(),
            Some(20)
        );
    }

    #[test]
    fn renewing_makes_every_webhook_of_the_stack_again() {
        let wanted = wanted_iugu(&stack(), &Layout::default(), &supported()).expect("wanted");
        let existing = vec![hook(1, "all", &wanted[0].url)];
        let renew = Policy {
            prune: false,
            renew: true,
        };
        let plan = plan_iugu(&existing, &wanted, HOST, renew, 20).expect("a plan");
        assert!(plan.keep.is_empty());
        assert_eq!(plan.create, wanted);
        assert_eq!(plan.extra, existing);
        assert!(plan.prune && !plan.delete_first);
        assert_eq!(plan.after(), 1);
    }

    #[test]
    fn when_creating_first_would_pass_the_limit_the_deletions_come_first() {
        let mut existing: Vec<WebHook> = (0..19)
            .map(|i| hook(i, "invoice.created", &format!("https://erp{i}.example.com")))
            .collect();
        existing.push(hook(
            99,
            "invoice.created",
            "https://abc.execute-api.sa-east-1.amazonaws.com/iugu/invoices?token=x",
        ));
        let wanted = wanted_iugu(&stack(), &Layout::default(), &supported()).expect("wanted");
        assert!(plan_iugu(&existing, &wanted, HOST, Policy::default(), 20).is_err());
        let plan = plan_iugu(&existing, &wanted, HOST, Policy::PRUNE, 20).expect("a plan");
        assert!(plan.delete_first);
        assert_eq!(plan.after(), 20);
    }
}
