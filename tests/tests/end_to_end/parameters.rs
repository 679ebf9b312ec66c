//! template.yaml's parameter patterns admit only what the functions take: every value
//! `scripts/parameter_cases.json` lists as admitted (scripts/check_template.py checks the
//! patterns against the same file) goes through the functions' own parsing here, with the
//! smallest `RetentionDays` the template allows. A value the deploy accepts never stops a
//! function at start-up.

use serde_json::Value;
use webhook_core::delivery::DeliverySettings;
use webhook_lambda::source_ip::SourceAllowList;

fn cases() -> Value {
    let path = pipeline_tests::workspace().join("scripts/parameter_cases.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the cases file")).expect("JSON")
}

fn admitted(cases: &Value, parameter: &str) -> Vec<String> {
    cases[parameter]["admit"]
        .as_array()
        .expect("a list of admitted values")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn every_admitted_window_is_shorter_than_the_smallest_retention() {
    let cases = cases();
    let days = cases["min_retention_days"]
        .as_u64()
        .expect("a number")
        .to_string();
    let windows = admitted(&cases, "DedupWindow");
    assert!(windows.len() >= 5, "{windows:?}");
    for window in windows {
        let settings = DeliverySettings::from_values(Some(&window), Some(&days));
        assert!(
            settings.is_ok(),
            "DEDUP_WINDOW={window} with RETENTION_DAYS={days}: {settings:?}"
        );
    }
    // The line the pattern draws is the functions' own: two days is not shorter than two days.
    assert!(DeliverySettings::from_values(Some("2d"), Some(&days)).is_err());
    assert!(DeliverySettings::from_values(Some("48h"), Some(&days)).is_err());
}

#[test]
fn every_admitted_source_list_is_one_the_functions_parse() {
    let lists = admitted(&cases(), "AllowedSourceIps");
    assert!(lists.len() >= 5, "{lists:?}");
    for list in lists {
        let parsed = list.parse::<SourceAllowList>();
        assert!(parsed.is_ok(), "ALLOWED_SOURCE_IPS={list:?}: {parsed:?}");
        assert_eq!(
            parsed.map(|l| l.is_active()).ok(),
            Some(!list.is_empty()),
            "{list:?}"
        );
    }
}
