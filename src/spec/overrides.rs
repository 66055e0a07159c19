//! `--set KEY=VALUE` overrides applied to a spec before it is checked.
//!
//! KEY is a dotted path (`seeds`, `train_limit`, `methods.ganomaly.epochs`,
//! `methods[1].kde.gcn`). A name segment that meets a list applies to every item
//! of the list that has that key, so `methods.ganomaly.epochs=1` changes every
//! GANomaly entry; an external method is also found by its `name`
//! (`methods.pca_recon.params.components=5`). VALUE is YAML (`1`, `[0, 1]`,
//! `true`, `text`).

use serde_yaml_ng::{Mapping, Value};

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(key: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unclosed `[` in the key")?;
            let i = r[..end]
                .parse()
                .map_err(|_| format!("`{}` is not a list index", &r[..end]))?;
            out.push(Seg::Index(i));
            rest = &r[end + 1..];
        }
        if name.is_empty() && rest.is_empty() && !part.contains(']') {
            return Err("empty segment in the key".into());
        }
    }
    Ok(out)
}

/// Applies one `KEY=VALUE` to the document.
pub fn apply(doc: &mut Value, set: &str) -> Result<(), String> {
    let (key, value) = set.split_once('=').ok_or("expected KEY=VALUE")?;
    let segs = segments(key.trim())?;
    if segs.is_empty() {
        return Err("empty key".into());
    }
    let value: Value = serde_yaml_ng::from_str(value).unwrap_or(Value::String(value.to_string()));
    if set_at(doc, &segs, &value)? == 0 {
        return Err(format!("`{key}` matches nothing in the spec"));
    }
    Ok(())
}

/// Sets `value` at `segs` under `node`; returns how many places were set.
fn set_at(node: &mut Value, segs: &[Seg], value: &Value) -> Result<usize, String> {
    let Some((first, rest)) = segs.split_first() else {
        *node = value.clone();
        return Ok(1);
    };
    match (first, node) {
        (Seg::Index(i), Value::Sequence(items)) => {
            let len = items.len();
            let item = items
                .get_mut(*i)
                .ok_or_else(|| format!("index {i} is past the end of a list of {len}"))?;
            set_at(item, rest, value)
        }
        (Seg::Key(k), Value::Sequence(items)) => {
            // `methods.ganomaly...`: every item that is (or names) method `k`
            let mut n = 0;
            for item in items.iter_mut() {
                if item.as_str() == Some(k.as_str()) {
                    let mut m = Mapping::new();
                    m.insert(Value::String(k.clone()), Value::Mapping(Mapping::new()));
                    *item = Value::Mapping(m);
                }
                if let Value::Mapping(m) = item
                    && let Some(v) = m.get_mut(k.as_str())
                {
                    if v.is_null() && !rest.is_empty() {
                        *v = Value::Mapping(Mapping::new());
                    }
                    n += set_at(v, rest, value)?;
                } else if let Some(external) = external_named(item, k) {
                    n += set_at(external, rest, value)?;
                }
            }
            Ok(n)
        }
        (Seg::Key(_), node @ Value::Null) => {
            *node = Value::Mapping(Mapping::new());
            set_at(node, segs, value)
        }
        (Seg::Key(k), Value::Mapping(m)) => {
            let key = Value::String(k.clone());
            if !m.contains_key(&key) {
                if rest.is_empty() {
                    m.insert(key.clone(), Value::Null);
                } else {
                    m.insert(key.clone(), Value::Mapping(Mapping::new()));
                }
            }
            let v = m.get_mut(&key).ok_or("internal: key vanished")?;
            set_at(v, rest, value)
        }
        (Seg::Index(i), _) => Err(format!("`[{i}]` indexes something that is not a list")),
        (Seg::Key(k), _) => Err(format!("`{k}` is under something that is not a mapping")),
    }
}

/// The mapping of list item `- external: {name: NAME, ...}` when NAME is
/// `name`: `methods.NAME.KEY` addresses an external method by its name.
fn external_named<'a>(item: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    let external = item.as_mapping_mut()?.get_mut("external")?;
    let named = external.as_mapping()?.get("name")?.as_str() == Some(name);
    named.then_some(external)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn sets_top_level_and_method_keys() {
        let mut d = doc(
            "seeds: [0, 1, 2]\nmethods:\n  - kde: {}\n  - ganomaly\n  - ganomaly: {w_con: 10}\n",
        );
        apply(&mut d, "seeds=[5]").unwrap();
        apply(&mut d, "methods.ganomaly.epochs=1").unwrap();
        apply(&mut d, "methods[0].kde.gcn=true").unwrap();
        let want = doc(
            "seeds: [5]\nmethods:\n  - kde: {gcn: true}\n  - ganomaly: {epochs: 1}\n  - ganomaly: {w_con: 10, epochs: 1}\n",
        );
        assert_eq!(d, want);
    }

    #[test]
    fn an_external_method_is_addressed_by_its_name() {
        let mut d = doc(
            "methods:\n  - external: {name: pca, command: [python3, pca.py], params: {k: 1}}\n  - external: {name: ae, command: [ae]}\n",
        );
        apply(&mut d, "methods.pca.params.k=5").unwrap();
        apply(&mut d, "methods.ae.threads=2").unwrap();
        let want = doc(
            "methods:\n  - external: {name: pca, command: [python3, pca.py], params: {k: 5}}\n  - external: {name: ae, command: [ae], threads: 2}\n",
        );
        assert_eq!(d, want);
        // every external method, as before
        apply(&mut d, "methods.external.fit_timeout=1h").unwrap();
        assert_eq!(d["methods"][1]["external"]["fit_timeout"], doc("1h"));
        assert!(
            apply(&mut d, "methods.nope.threads=2")
                .unwrap_err()
                .contains("matches nothing")
        );
    }

    #[test]
    fn rejects_bad_keys() {
        let mut d = doc("methods:\n  - kde: {}\n");
        assert!(
            apply(&mut d, "methods.ganomaly.epochs=1")
                .unwrap_err()
                .contains("matches nothing")
        );
        assert!(
            apply(&mut d, "methods[3].kde.gcn=1")
                .unwrap_err()
                .contains("past the end")
        );
        assert!(apply(&mut d, "novalue").unwrap_err().contains("KEY=VALUE"));
    }
}
