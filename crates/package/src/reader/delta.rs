//! A delta payload in the reader: its index checked, the payload rebuilt from it and
//! the sink's base, then read through exactly as a full payload would be, so the
//! signed checksums check what was rebuilt.

use super::{check_size, open_sink, read_small, take_payload, PayloadSink, ReadError, State};
use super::{ReadOptions, MANIFEST_PATH};
use crate::delta::{DeltaIndex, Expand, MAX_INDEX_BYTES, SUFFIX};
use std::io::Read;

pub(super) fn read_delta_payload<R: Read, S: PayloadSink + ?Sized>(
    entry: &mut R,
    st: &mut State,
    name: &str,
    opts: &ReadOptions,
    sink: Option<&mut S>,
) -> Result<(), ReadError> {
    let target = name.trim_end_matches(SUFFIX);
    let Some(manifest) = st.manifest.as_ref() else {
        return Err(ReadError::invalid(format!(
            "{name}: {MANIFEST_PATH} must come before a delta payload"
        )));
    };
    let (id, runtime) = (manifest.id().to_string(), manifest.runtime);
    let mut archive = tar::Archive::new(entry);
    let mut entries = archive
        .entries()
        .map_err(|e| ReadError::classify(e, name))?;
    let mut next = |want: &str| -> Result<tar::Entry<'_, &mut R>, ReadError> {
        let e = entries
            .next()
            .ok_or_else(|| ReadError::invalid(format!("{name}: no {want} in it")))?
            .map_err(|e| ReadError::classify(e, name))?;
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        if path != want {
            return Err(ReadError::invalid(format!(
                "{name}: {path} where {want} belongs"
            )));
        }
        Ok(e)
    };
    let mut json_entry = next("delta.json")?;
    let json_size = json_entry.size();
    let json = read_small(&mut json_entry, json_size, MAX_INDEX_BYTES, "delta.json")?;
    drop(json_entry);
    let index: DeltaIndex = serde_json::from_slice(&json)
        .map_err(|e| ReadError::invalid(format!("{name}: delta.json: {e}")))?;
    let data = next("data")?;
    let bad = |why: String| ReadError::invalid(format!("{name}: {why}"));
    index.check(data.size()).map_err(bad)?;
    if index.base.id != id {
        return Err(bad(format!(
            "a delta of {}, in a package of {id}",
            index.base.id
        )));
    }
    let wanted = if runtime.runs_an_image() {
        index.target.name == "image.tar"
    } else {
        index.target.name.ends_with(".tar") && !index.target.name.contains('/')
    };
    if format!("payload/{}", index.target.name) != target || !wanted {
        return Err(bad(format!(
            "rebuilds {:?}: a delta payload rebuilds payload/image.tar (podman, docker) or the bundle's tar (lxc, runc: payload/NAME.tar for payload/NAME.tar.gz), under that name plus {SUFFIX}",
            index.target.name
        )));
    }
    if runtime.runs_an_image() {
        check_size(st, target, index.target.size)?;
    } else {
        if manifest.payload_tar_digest.is_none() {
            return Err(bad(
                "its manifest has no payload_tar_digest, which a rebuilt bundle is checked against (pack the full package with this berth)".into(),
            ));
        }
        st.rebuilt_bundle = Some(format!("{target}.gz"));
    }
    let Some(sink) = sink else {
        return Err(bad(format!(
            "a delta from {} {}: its payload is rebuilt and checked where that version is installed (berthctl install)",
            index.base.id, index.base.version
        )));
    };
    let size = index.target.size;
    let (manifest, tee) = open_sink(st, opts, sink, target, size)?;
    let mut base = sink
        .delta_base(manifest, &index.base)
        .map_err(ReadError::Refused)?;
    let mut expand = Expand::new(index, data, base.as_mut());
    take_payload(&mut expand, st, target, runtime, Some(tee), opts)
}
