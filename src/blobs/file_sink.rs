//! Where a local writer's thread puts an upload's bytes. Where the filesystem allows it, around
//! the page cache: bytes gather in an aligned buffer that is written with `O_DIRECT` when full.
//! The kernel's copy into the page cache was the largest cost left in an upload after sha256
//! (about a fifth of the server's CPU, and page reclaim under a full cache made it swing;
//! BENCHMARKS.md, issue 18). The copy into the buffer costs less: the buffer is reused and
//! stays in cache. Elsewhere (tmpfs, some overlays, non-Linux) it writes through the page
//! cache and starts writeback as it goes. Either way the caller's fsync makes the file durable.
//! A direct write waits for the disk, so a thread of its own does them, with two buffers: one
//! being filled while the other is written.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes per direct write, and the size of each of an upload's two buffers.
const DIRECT_BYTES: usize = 1 << 20;
/// Direct I/O needs buffer addresses, file offsets and lengths in multiples of the device's
/// logical block size; a page covers every common one.
const ALIGN: usize = 4096;
/// Through the page cache, writeback is started every this many bytes, so the disk works while
/// the body streams and the final fsync finds little left (it waited 0.5 s for a 1 GiB upload's
/// dirty pages before).
const WRITEBACK_BYTES: u64 = 8 << 20;

/// An aligned buffer of `DIRECT_BYTES` inside a plain allocation.
struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new() -> Self {
        let storage = vec![0u8; DIRECT_BYTES + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        Aligned {
            storage,
            start,
            len: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

/// The direct path: the buffer being filled, and the thread writing full ones.
struct Direct {
    filling: Aligned,
    full: Option<SyncSender<Aligned>>,
    empty: Receiver<Aligned>,
    buffers: usize,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Direct {
    fn start(file: &File) -> std::io::Result<Self> {
        let out = file.try_clone()?;
        let (full, to_write) = sync_channel::<Aligned>(1);
        let (give_back, empty) = sync_channel(2);
        let thread = std::thread::Builder::new()
            .name("blob-direct-io".into())
            .spawn(move || {
                let mut first = true;
                for buffer in to_write {
                    match (&out).write_all(buffer.filled()) {
                        // Some filesystems take the flag but refuse the write itself: write
                        // through the page cache from here on (the flag is the file's, so the
                        // sink's last write follows).
                        Err(e) if first && e.raw_os_error() == Some(libc::EINVAL) => {
                            set_direct(&out, false)?;
                            (&out).write_all(buffer.filled())?;
                        }
                        written => written?,
                    }
                    first = false;
                    // The sink may be gone; then the buffer is freed.
                    let _ = give_back.send(buffer);
                }
                Ok(())
            })?;
        Ok(Direct {
            filling: Aligned::new(),
            full: Some(full),
            empty,
            buffers: 1,
            thread: Some(thread),
        })
    }

    /// Hands the full buffer to the thread and takes an empty one (the other buffer, once
    /// written, or a second one at the start).
    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = match self.empty.try_recv() {
            Ok(buffer) => buffer,
            Err(_) if self.buffers < 2 => {
                self.buffers += 1;
                Aligned::new()
            }
            Err(_) => match self.empty.recv() {
                Ok(buffer) => buffer,
                Err(_) => return Err(self.stop()),
            },
        };
        let full = std::mem::replace(&mut self.filling, next);
        let sent = self.full.as_ref().map(|tx| tx.send(full));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.stop());
        }
        self.filling.len = 0;
        Ok(())
    }

    /// Waits for the thread to write what it was given; its error, if it had one.
    fn join(&mut self) -> std::io::Result<()> {
        drop(self.full.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the direct I/O thread panicked")),
            None => Ok(()),
        }
    }

    /// The thread stopped early: only an error does that.
    fn stop(&mut self) -> std::io::Error {
        match self.join() {
            Err(e) => e,
            Ok(()) => std::io::Error::other("the direct I/O thread stopped"),
        }
    }
}

impl Drop for Direct {
    /// Unfinished (a failed or cancelled upload): let the thread end before the file goes.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

pub(super) struct FileSink {
    file: File,
    /// Present while writes go around the page cache.
    direct: Option<Direct>,
    /// Bytes handed to the kernel, and (through the page cache) those whose writeback started.
    written: u64,
    flushed: u64,
}

impl FileSink {
    /// Writes to `file`, around the page cache if `direct` is asked for and the filesystem
    /// allows it.
    pub(super) fn new(file: File, direct: bool) -> Self {
        let direct = match direct && set_direct(&file, true).is_ok() {
            true => Direct::start(&file).ok(),
            false => None,
        };
        if direct.is_none() {
            let _ = set_direct(&file, false);
        }
        FileSink {
            file,
            direct,
            written: 0,
            flushed: 0,
        }
    }

    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    pub(super) fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        let Some(direct) = &mut self.direct else {
            return self.write_buffered(data);
        };
        while !data.is_empty() {
            let buffer = &mut direct.filling;
            let n = data.len().min(DIRECT_BYTES - buffer.len);
            let at = buffer.start + buffer.len;
            buffer.storage[at..at + n].copy_from_slice(&data[..n]);
            buffer.len += n;
            data = &data[n..];
            if buffer.len == DIRECT_BYTES {
                direct.hand_over()?;
                self.written += DIRECT_BYTES as u64;
            }
        }
        Ok(())
    }

    /// Writes what is still buffered and returns the file, for the caller to sync.
    pub(super) fn finish(mut self) -> std::io::Result<File> {
        if let Some(mut direct) = self.direct.take() {
            direct.join()?;
            let tail = direct.filling.filled();
            // Whole blocks go direct; the last partial block (and a file smaller than one
            // buffer, which gains nothing) through the page cache.
            let whole = if self.written > 0 {
                tail.len() - tail.len() % ALIGN
            } else {
                0
            };
            (&self.file).write_all(&tail[..whole])?;
            set_direct(&self.file, false)?;
            (&self.file).write_all(&tail[whole..])?;
        }
        Ok(self.file)
    }

    fn write_buffered(&mut self, data: &[u8]) -> std::io::Result<()> {
        (&self.file).write_all(data)?;
        self.written += data.len() as u64;
        if self.written - self.flushed >= WRITEBACK_BYTES {
            start_writeback(&self.file, self.flushed, self.written - self.flushed);
            self.flushed = self.written;
        }
        Ok(())
    }
}

/// Turns `O_DIRECT` on or off for an open file; an error where the filesystem refuses it.
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function borrows; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::O_DIRECT
        } else {
            flags & !libc::O_DIRECT
        };
        if libc::fcntl(fd, libc::F_SETFL, flags) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &File, on: bool) -> std::io::Result<()> {
    if on {
        Err(std::io::ErrorKind::Unsupported.into())
    } else {
        Ok(())
    }
}

/// Asks the kernel to start writing a range back to disk, without waiting for it. Advisory:
/// the final fsync is what makes the file durable, so a failure here changes nothing.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on an open descriptor; no memory is passed.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the filesystem under `dir` takes direct I/O, asked without the sink.
    fn takes_direct_io(dir: &std::path::Path) -> bool {
        let probe = File::create(dir.join("probe")).unwrap();
        set_direct(&probe, true).is_ok()
    }

    #[test]
    fn every_size_and_chunking_lands_intact_either_way() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            DIRECT_BYTES - 1,
            DIRECT_BYTES,
            DIRECT_BYTES + 1,
            3 * DIRECT_BYTES + ALIGN + 123,
        ];
        for direct in [true, false] {
            for (i, &size) in sizes.iter().enumerate() {
                let data: Vec<u8> = (0..size).map(|j| (j * 7 + i) as u8).collect();
                let path = dir.path().join(format!("{direct}-{size}"));
                let mut sink = FileSink::new(File::create(&path).unwrap(), direct);
                assert_eq!(
                    sink.is_direct(),
                    direct && takes_direct_io(dir.path()),
                    "{size}"
                );
                // Chunks of uneven sizes, as a body arrives.
                let mut rest = &data[..];
                let mut step = 1;
                while !rest.is_empty() {
                    let n = rest.len().min(step);
                    sink.write(&rest[..n]).unwrap();
                    rest = &rest[n..];
                    step = step * 3 + 1000;
                }
                sink.finish().unwrap().sync_all().unwrap();
                assert!(std::fs::read(&path).unwrap() == data, "{direct} {size}");
            }
        }
    }
}
