//! The library's layers, checked: every `crate::` path in a module of `src/` (outside its tests)
//! names a module of its own layer or a lower one. A circle between two modules, or a low
//! module reaching up, fails here with the file and the path that does it.

use std::path::Path;

use crate::util::repo;

/// The library's top-level modules from the lowest layer to the highest: a module uses only
/// modules of lower layers.
const LAYERS: &[&[&str]] = &[
    &["refusal", "name", "regular", "server"],
    &["query"],
    &["cgi"],
    &["config", "counters", "head", "pacing", "slots"],
    &["transport", "watch", "handoff"],
    &["stream", "rights", "store"],
    &["program"],
    &["source"],
    &["hub"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a file of `src/` belongs to (`src/store/spool/mod.rs` is `store`).
fn module_of(file: &Path, src: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_uses_lower_layers_only() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let Some(module) = module_of(&file, &src) else {
            continue;
        };
        // The binaries sit above every layer; the crate root only declares modules.
        if file.starts_with(src.join("bin")) || module == "lib" || module == "testing" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            wrong.push(format!(
                "{}: module {module} is in no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // What a module's tests use is not part of its place in the layers.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let used: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // A grouped `use crate::{…}` would hide its modules from this look: none is allowed.
            if used.is_empty() {
                wrong.push(format!("{}: a grouped use of crate::{{…}}", file.display()));
                continue;
            }
            if used == module {
                continue;
            }
            let Some(theirs) = layer_of(&used) else {
                wrong.push(format!(
                    "{}: uses crate::{used}, in no layer",
                    file.display()
                ));
                continue;
            };
            if theirs >= own {
                wrong.push(format!(
                    "{}: module {module} (layer {own}) uses crate::{used} (layer {theirs})",
                    file.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
