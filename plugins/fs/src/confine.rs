//! What keeps the fs driver inside its root and its writers apart, across processes:
//!
//! - **No links followed.** A get opens its file with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)` relative to the root (on kernels without `openat2`, every component
//!   is checked with `lstat` and the last opened with `O_NOFOLLOW`); every other operation
//!   checks each component of its path with `lstat` first. A symbolic link planted anywhere
//!   on a path makes the request fail with `PermissionDenied`; links are never listed.
//! - **Only regular files are objects.** A get opens without blocking (`O_NONBLOCK`), so a
//!   FIFO or a device in the root is refused instead of hanging the read.
//! - **Names that fit.** An object's last segment may be at most [`MAX_NAME`] bytes, so that
//!   its metadata sidecar (`<name>@<generation>`) fits the file system's 255-byte limit.
//! - **Conditions across processes.** The check of a condition and the rename that follows
//!   hold an exclusive OFD lock (`F_OFD_SETLKW`) on one byte of `.bindery/lock`, chosen by a
//!   stable hash of the path; unconditional writes hold it shared. So `if-match` puts from
//!   separate processes never lose an update.
//! - **Temporary files of the dead only.** Every temporary file is locked by the process
//!   writing it; at connect, one that can be locked (its writer is gone, in whatever PID
//!   namespace it ran) is removed.

use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use bindery_core::{Error, ErrorKind, Result};

use crate::error::map;

/// The longest last segment of an object path, in bytes: 255 less the sidecar's `@` and a
/// generation of up to 33 characters.
pub const MAX_NAME: usize = 255 - 34;
/// How many locks paths are spread over.
const LOCK_BYTES: u64 = 4096;

/// The error for a path that passes through a symbolic link.
fn link_refused(path: &str) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "'{path}' is or passes through a symbolic link, and the fs driver follows none \
         (a link could lead out of its root)"
        ),
    )
}

/// Refuses a put whose segments are too long to store (with their metadata sidecar).
pub fn check_names(path: &str) -> Result<()> {
    let mut segments = path.split('/').peekable();
    while let Some(s) = segments.next() {
        let limit = if segments.peek().is_none() { MAX_NAME } else { 255 };
        if s.len() > limit {
            return Err(Error::invalid_input(format!(
                "the path segment '{}…' is {} bytes long; the fs driver keeps {} at most{}",
                s.chars().take(24).collect::<String>(),
                s.len(),
                limit,
                if limit == MAX_NAME {
                    " in an object's name (its metadata sidecar needs the rest of the 255)"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(())
}

/// `lstat` of `root/path`, refusing symbolic links on the way: `None` when it (or a folder
/// above it) is absent, or a folder above it is a file.
pub fn lstat_beneath(root: &Path, path: &str) -> Result<Option<Metadata>> {
    let mut at = root.to_path_buf();
    let mut segments = path.split('/').filter(|s| !s.is_empty()).peekable();
    while let Some(s) = segments.next() {
        at.push(s);
        let md = match fs::symlink_metadata(&at) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Ok(None);
            }
            Err(e) => return Err(map(e, &format!("stat '{path}'"))),
        };
        if md.file_type().is_symlink() {
            return Err(link_refused(path));
        }
        if segments.peek().is_none() {
            return Ok(Some(md));
        }
        if !md.is_dir() {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Opens `root/path` for reading without following any link and without blocking on a FIFO.
/// `Ok(None)` when absent; an error naming the path when it is not a regular file.
pub fn open_beneath(root_fd: &OwnedFd, root: &Path, path: &str) -> Result<Option<(File, Metadata)>> {
    let what = || format!("read '{path}'");
    let file = match openat2_beneath(root_fd, path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) || e.raw_os_error() == Some(libc::EPERM) => {
            // No openat2 here (or a seccomp filter refuses it): check, then open.
            if lstat_beneath(root, path)?.is_none() {
                return Ok(None);
            }
            match open_nofollow(&root.join(path)) {
                Ok(f) => f,
                Err(e) => return open_error(e, path).map(|()| None),
            }
        }
        Err(e) => return open_error(e, path).map(|()| None),
    };
    let md = file.metadata().map_err(|e| map(e, &what()))?;
    if md.is_dir() {
        return Ok(None); // a prefix, not an object
    }
    if !md.is_file() {
        return Err(Error::invalid_input(format!(
            "'{path}' is not a regular file ({}), so it is no object",
            kind_of(&md)
        )));
    }
    Ok(Some((file, md)))
}

/// What a failed open means: absent (`Ok`), a link, or another error.
fn open_error(e: io::Error, path: &str) -> Result<()> {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => Ok(()),
        Some(libc::ELOOP | libc::EXDEV) => Err(link_refused(path)),
        _ => Err(map(e, &format!("read '{path}'"))),
    }
}

fn kind_of(md: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = md.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a plain file"
    }
}

fn cstring(bytes: &[u8]) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

const OPEN_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;

#[cfg(target_os = "linux")]
fn openat2_beneath(root_fd: &OwnedFd, path: &str) -> io::Result<File> {
    let name = cstring(path.as_bytes())?;
    // SAFETY: `open_how` is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = OPEN_FLAGS as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid directory descriptor, a NUL-terminated name and a valid `open_how` of
    // the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_fd.as_raw_fd(),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

#[cfg(not(target_os = "linux"))]
fn openat2_beneath(_root_fd: &OwnedFd, _path: &str) -> io::Result<File> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

fn open_nofollow(file: &Path) -> io::Result<File> {
    let name = cstring(file.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path; the flags make a new descriptor.
    let fd = unsafe { libc::open(name.as_ptr(), OPEN_FLAGS | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens the root as a directory handle for [`open_beneath`].
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let name = cstring(root.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path; the flags make a new descriptor.
    let fd = unsafe { libc::open(name.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// OFD locks on bytes of one file, one byte per stripe of paths, shared by every process
/// using the root.
pub struct PathLocks {
    file: File,
}

/// A held lock; released when dropped.
pub struct Held<'a> {
    file: &'a File,
    at: u64,
}

impl PathLocks {
    pub fn open(file: &Path) -> io::Result<PathLocks> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(file)?;
        Ok(PathLocks { file })
    }

    /// Locks `path`'s byte, exclusively or shared, waiting for other holders (any process).
    pub fn lock(&self, path: &str, exclusive: bool) -> io::Result<Held<'_>> {
        let at = fnv1a(path.as_bytes()) % LOCK_BYTES;
        let kind = if exclusive { libc::F_WRLCK } else { libc::F_RDLCK };
        ofd_lock(&self.file, at, kind as libc::c_short, true)?;
        Ok(Held { file: &self.file, at })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = ofd_lock(self.file, self.at, libc::F_UNLCK as libc::c_short, false);
    }
}

/// A stable hash (the same in every process and build), unlike std's `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// An OFD lock of one byte at `at` (`wait`: block until granted).
fn ofd_lock(file: &File, at: u64, kind: libc::c_short, wait: bool) -> io::Result<()> {
    // SAFETY: `flock` is plain data; zeroed is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = at as libc::off_t;
    fl.l_len = 1;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: a valid descriptor and a valid `flock`.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Marks a temporary file as being written by this process (until the file is closed).
pub fn claim_temp(file: &File) -> io::Result<()> {
    ofd_lock(file, 0, libc::F_WRLCK as libc::c_short, false)
}

/// Removes the temporary files in `tmp` whose writers are gone: those nobody holds locked.
/// (A writer locks its file right after making it; should a connect elsewhere remove it in
/// that one system call's window, the writer's rename fails and its put is refused: nothing
/// acknowledged is lost.)
pub fn remove_stale_temp_files(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(md) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !md.is_file() {
            let _ = fs::remove_file(&path);
            continue;
        }
        let Ok(file) = File::options().read(true).write(true).open(&path) else {
            continue;
        };
        if ofd_lock(&file, 0, libc::F_WRLCK as libc::c_short, false).is_ok() {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_too_long_for_a_sidecar_are_refused_and_others_pass() {
        assert!(check_names(&"a".repeat(MAX_NAME)).is_ok());
        let e = check_names(&"a".repeat(MAX_NAME + 1)).unwrap_err();
        assert!(e.to_string().contains("221"), "{e}");
        assert!(check_names(&format!("{}/x", "d".repeat(255))).is_ok());
        assert!(check_names(&format!("{}/x", "d".repeat(256))).is_err());
    }

    #[test]
    fn the_lock_hash_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn a_claimed_temp_file_is_kept_and_an_unclaimed_one_goes() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.tmp");
        let dead = dir.path().join("dead.tmp");
        let f = File::create(&live).unwrap();
        claim_temp(&f).unwrap();
        File::create(&dead).unwrap();
        remove_stale_temp_files(dir.path());
        assert!(live.exists(), "a live writer's temp file was removed");
        assert!(!dead.exists(), "a dead writer's temp file stayed");
    }
}
