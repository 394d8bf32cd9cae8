//! Reading files a user names, without trusting them to be small or regular.

use std::fs::FileType;
use std::io::Read;
use std::path::Path;

/// Reads the whole of `path` if it holds at most `limit` bytes; `Ok(None)` when it holds more.
///
/// A regular file is read, and so is a pipe something writes into (`runbook check <(generate)`).
/// Anything else is refused with a [`NotAFile`] error, before it is read: a device (`/dev/zero`
/// never ends, a terminal waits for typing), a socket, a directory, and a FIFO that nothing
/// writes to, which would otherwise block the open forever. The limit is enforced while
/// reading, not from the file's size on disk: a pipe reports no size, and must not be read
/// without end.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = open_without_waiting(path)?;
    let metadata = file.metadata()?;
    let file_type = metadata.file_type();
    if metadata.is_file() {
        if metadata.len() > limit {
            return Ok(None);
        }
        return read_bounded(file, limit, metadata.len());
    }
    if !is_fifo(&file_type) {
        return Err(NotAFile::error(kind_of(&file_type)));
    }
    // Blocking reads from here on, so that a writer which has opened the pipe but not yet
    // written is waited for. A FIFO that no writer had opened when it was opened reads as
    // empty at once: the writer must be started first (a `<(command)` always is).
    set_blocking(&file)?;
    match read_bounded(file, limit, 0)? {
        Some(bytes) if bytes.is_empty() => Err(NotAFile::error(
            "a FIFO (named pipe) that nothing was writing to when it was opened (start the writer first, or pass `<(command)`)",
        )),
        read => Ok(read),
    }
}

/// Reads the whole of `path`, which must be a regular file (a journal, which is never a pipe):
/// anything else is refused with a [`NotAFile`] error before it is read, so a FIFO put in its
/// place cannot block the reader.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = open_without_waiting(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(NotAFile::error(kind_of(&metadata.file_type())));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens `path` for reading with `O_NONBLOCK`, so that opening a FIFO does not wait for a
/// writer that may never come.
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path).map_err(|error| {
        // A socket cannot be opened at all (ENXIO, "No such device or address"): say what it is.
        match std::fs::metadata(path) {
            Ok(metadata) if is_socket(&metadata.file_type()) => {
                NotAFile::error(kind_of(&metadata.file_type()))
            }
            _ => error,
        }
    })
}

/// Clears `O_NONBLOCK` on an open file.
fn set_blocking(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this function borrows open; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// A path that names something other than a regular file (or a pipe being written to), which
/// [`read_at_most`] refuses to read. Carried inside the `std::io::Error` it returns.
#[derive(Debug)]
pub struct NotAFile {
    /// What it is, with its article: "a directory", "a character device".
    pub kind: &'static str,
}

impl NotAFile {
    fn error(kind: &'static str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, NotAFile { kind })
    }

    /// The [`NotAFile`] inside `error`, if that is what it is.
    pub fn of(error: &std::io::Error) -> Option<&NotAFile> {
        error.get_ref()?.downcast_ref::<NotAFile>()
    }
}

impl std::fmt::Display for NotAFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "this is {}, not a regular file", self.kind)
    }
}

impl std::error::Error for NotAFile {}

/// What a file type is, in words with their article, for messages.
pub fn kind_of(file_type: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "something other than a file"
    }
}

/// Whether two paths name the same file (one inode, whatever the links or spellings); `false`
/// when either cannot be looked at.
pub fn same_file(one: &Path, other: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (Ok(one), Ok(other)) = (std::fs::metadata(one), std::fs::metadata(other)) else {
            return false;
        };
        one.dev() == other.dev() && one.ino() == other.ino()
    }
    #[cfg(not(unix))]
    {
        match (std::fs::canonicalize(one), std::fs::canonicalize(other)) {
            (Ok(one), Ok(other)) => one == other,
            _ => false,
        }
    }
}

fn is_fifo(file_type: &FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        file_type.is_fifo()
    }
    #[cfg(not(unix))]
    {
        let _ = file_type;
        false
    }
}

fn is_socket(file_type: &FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        file_type.is_socket()
    }
    #[cfg(not(unix))]
    {
        let _ = file_type;
        false
    }
}

/// An I/O error's reason without the "(os error N)" the standard library adds: "No space left
/// on device".
pub fn reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" (os error ") {
        Some((reason, _)) => reason.to_string(),
        None => text,
    }
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
    fn a_device_is_refused_before_it_is_read() {
        for device in ["/dev/zero", "/dev/null"] {
            let error = read_at_most(Path::new(device), 1 << 16).unwrap_err();
            assert_eq!(NotAFile::of(&error).unwrap().kind, "a character device");
        }
    }

    #[test]
    fn an_endless_reader_is_cut_off_at_the_limit() {
        assert_eq!(read_bounded(std::io::repeat(0), 1 << 16, 0).unwrap(), None);
    }

    #[test]
    fn a_fifo_that_nothing_writes_to_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = read_at_most(&path, 10).unwrap_err();
        assert_eq!(
            error.to_string(),
            "this is a FIFO (named pipe) that nothing was writing to when it was opened (start the writer first, or pass `<(command)`), not a regular file"
        );
    }

    #[test]
    fn an_os_error_reads_without_its_number() {
        let error = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(reason(&error), "No space left on device");
    }
}
