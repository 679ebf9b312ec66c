//! The third-gateway checklist: adding a gateway is its crate, its function, its line in the
//! registry (`webhook_gateways::ALL`) and its resources in `template.yaml`, nothing else
//! (docs/architecture.md, "Adding a gateway"). Each test fails when a fourth place appears: a
//! gateway named where every gateway passes (the core, the edge, the sweeper, `recover`'s
//! generic commands), or one of the four places missing for a gateway of the registry.
//!
//! What is read is code: comments (`//`, doc comments included) and the `#[cfg(test)]` module
//! at the end of a file are left out. Comments explain with a gateway as the example, and a
//! unit test exercises the gateways it dev-depends on: neither is a place a new gateway must
//! be added to. The core's `schema` module is left out too: its descriptions are the consumers'
//! documentation of the wire (schema/envelope.schema.json), which says which gateway sends
//! which shape of `data`; a new gateway's consumers are told there, but nothing breaks without.

use std::fs;
use std::path::{Path, PathBuf};

use webhook_gateways::ALL;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `rel`, sorted.
fn rust_files(rel: &str) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(base).expect("under the root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(rel), &root(), &mut out);
    out.sort();
    out
}

/// A Rust file's code: each line without its `//` comment, up to its `#[cfg(test)]` module
/// (which must be the file's last item: `mod tests`).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("#[cfg(test)]") {
            let item = lines.next().unwrap_or_default();
            assert!(item.starts_with("mod tests"), "#[cfg(test)] before {item}");
            let rest: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(rest.last(), Some(&"}"), "the test module ends the file");
            assert!(
                !rest.iter().any(|l| l.starts_with("#[cfg(test)]")),
                "one test module"
            );
            break;
        }
        out.push_str(line.split("//").next().unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Every gateway's name, as the registry knows them.
fn names() -> Vec<&'static str> {
    ALL.iter().map(|gateway| gateway.provider()).collect()
}

/// The places that name no gateway, with the gateway names found in each (empty when clean).
fn named_in(files: &[String]) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for file in files {
        let code = code(&read(file)).to_ascii_lowercase();
        for name in names() {
            if code.contains(name) {
                found.push((file.clone(), name));
            }
        }
    }
    found
}

/// The core and the edge name no gateway: every gateway passes through them as a `Gateway`
/// (its headers, paths, timestamp, refusals) or a `Parsers`.
#[test]
fn the_core_and_the_edge_name_no_gateway() {
    let mut files = rust_files("shared/core/src");
    files.retain(|f| !f.ends_with("shared/core/src/schema.rs"));
    files.extend(rust_files("shared/lambda/src"));
    assert!(files.len() > 20, "{files:?}");
    assert_eq!(named_in(&files), []);
    // Nor do their dependencies: a gateway's crate is at most a dev-dependency of theirs.
    for manifest in ["shared/core/Cargo.toml", "shared/lambda/Cargo.toml"] {
        let text = read(manifest);
        let normal = text
            .split("\n[dev-dependencies]")
            .next()
            .unwrap_or_default();
        for name in names() {
            assert!(
                !code_of_toml(normal).contains(&format!("webhook-{name}")),
                "{manifest} depends on webhook-{name}"
            );
        }
    }
}

/// A TOML file without its comments.
fn code_of_toml(text: &str) -> String {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What serves every gateway takes them from the registry: the sweeper's function, and
/// `recover`'s commands that handle any stored or kept notification (`quarantine`, `replay`).
#[test]
fn what_serves_every_gateway_takes_them_from_the_registry() {
    let files: Vec<String> = [
        "functions/sweeper/src/main.rs",
        "recover/src/quarantine.rs",
        "recover/src/replay.rs",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(named_in(&files), []);
    for file in &files {
        assert!(
            read(file).contains("webhook_gateways::"),
            "{file} does not use the registry"
        );
    }
}

/// Each gateway of the registry has the other three places: its crate, its function(s), its
/// resources in the template (its routes and its secret).
#[test]
fn every_gateway_in_the_registry_has_its_crate_function_and_template_resources() {
    let template = read("template.yaml");
    let functions = fs::read_dir(root().join("functions")).expect("functions/");
    let mains: Vec<String> = functions
        .map(|f| f.expect("an entry").path().join("src/main.rs"))
        .filter(|main| main.exists())
        .map(|main| fs::read_to_string(main).expect("main.rs"))
        .collect();
    for gateway in ALL {
        let name = gateway.provider();
        // Its crate: shared/<name>, the package webhook-<name>.
        let manifest = read(&format!("shared/{name}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"webhook-{name}\"")),
            "shared/{name}/Cargo.toml"
        );
        // Its function: a `main` that serves it through the edge.
        let crate_name = format!("webhook_{name}::");
        assert!(
            mains
                .iter()
                .any(|main| main.contains(&crate_name) && main.contains("runtime::serve(")),
            "no function serves {name}"
        );
        // Its resources: every route's path, and its secret's variable.
        for path in gateway.paths() {
            assert!(
                template.contains(&format!("Path: {path}\n")),
                "template.yaml has no route {path}"
            );
        }
        let secret = format!("{}_SECRET_ID:", name.to_ascii_uppercase());
        assert!(template.contains(&secret), "template.yaml has no {secret}");
    }
    // And the registry lists each once: one line per gateway.
    let registry = code(&read("shared/gateways/src/lib.rs"));
    for name in names() {
        let uses = registry.matches(&format!("use webhook_{name}::")).count();
        assert_eq!(uses, 1, "the registry names {name} once");
    }
}
