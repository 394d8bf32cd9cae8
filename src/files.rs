//! Reading files a user names, without trusting them to be small or regular.

use std::io::Read;
use std::path::Path;

/// Reads the whole of `path` if it holds at most `limit` bytes; `Ok(None)` when it holds more.
///
/// The limit is enforced while reading, not from the file's size on disk: a pipe, a process
/// substitution (`<(...)`) or a device such as `/dev/zero` reports no size, and must not be
/// read without end.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let expected = file
        .metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(0, |metadata| metadata.len());
    if expected > limit {
        return Ok(None);
    }
    read_bounded(file, limit, expected)
}

/// Reads `reader` to its end if it gives at most `limit` bytes; `Ok(None)` as soon as it gives
/// more (the rest is left unread). `expected` sizes the buffer when the length is known.
pub fn read_bounded(
    reader: impl Read,
    limit: u64,
    expected: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::with_capacity(usize::try_from(expected.min(limit)).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_up_to_the_limit_and_refused_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(
            read_at_most(&path, 5).unwrap().as_deref(),
            Some(&b"12345"[..])
        );
        assert_eq!(read_at_most(&path, 4).unwrap(), None);
        assert!(read_at_most(&dir.path().join("missing"), 5).is_err());
    }

    #[test]
    fn an_endless_device_is_cut_off_at_the_limit() {
        assert_eq!(read_at_most(Path::new("/dev/zero"), 1 << 16).unwrap(), None);
        assert_eq!(
            read_at_most(Path::new("/dev/null"), 10).unwrap().as_deref(),
            Some(&[][..])
        );
    }
}
