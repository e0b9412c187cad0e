//! Reading the operator file safely: only a regular file, at most
//! `MAX_CONFIG_BYTES`, and never an open that can block (a FIFO at the
//! path would wait for a writer forever).

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use envconfig::Envconfig;

/// How the operator file is read.
#[derive(Envconfig, Debug, Clone, Copy)]
pub struct ReadLimits {
    /// The largest operator file read; a larger one is refused.
    #[envconfig(from = "MAX_CONFIG_BYTES", default = "4194304")]
    pub max_config_bytes: u64,
}

/// The file's text, or why it was not read (in words naming the path).
pub fn read_operator_file(path: &Path, limits: ReadLimits) -> Result<String, String> {
    let shown = path.display();
    let cannot = |error: std::io::Error| format!("cannot read {shown}: {error}");
    let too_large = || {
        format!(
            "{shown} is larger than MAX_CONFIG_BYTES ({} bytes)",
            limits.max_config_bytes
        )
    };
    // Looked at before opening: opening a FIFO for reading blocks.
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    refuse_unless_regular(&shown.to_string(), &metadata.file_type())?;
    if metadata.len() > limits.max_config_bytes {
        return Err(too_large());
    }
    // Non-blocking in case the path was swapped for a FIFO since: the open
    // then returns at once, and the check below refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    refuse_unless_regular(
        &shown.to_string(),
        &file.metadata().map_err(cannot)?.file_type(),
    )?;
    let mut bytes = Vec::new();
    file.take(limits.max_config_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limits.max_config_bytes {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "{shown} is not UTF-8 text (byte {} is not)",
            error.utf8_error().valid_up_to()
        )
    })
}

fn refuse_unless_regular(shown: &str, kind: &std::fs::FileType) -> Result<(), String> {
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(format!(
        "{shown} is {what}: the configuration must be a regular file"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ReadLimits = ReadLimits {
        max_config_bytes: 16,
    };

    #[test]
    fn only_a_regular_file_within_the_limit_is_read() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("alvares.toml");
        std::fs::write(&file, "a = 1\n").unwrap();
        assert_eq!(read_operator_file(&file, LIMITS).unwrap(), "a = 1\n");

        std::fs::write(&file, "a = \"0123456789ab\"\n").unwrap();
        assert_eq!(
            read_operator_file(&file, LIMITS).unwrap_err(),
            format!(
                "{} is larger than MAX_CONFIG_BYTES (16 bytes)",
                file.display()
            )
        );
        assert_eq!(
            read_operator_file(folder.path(), LIMITS).unwrap_err(),
            format!(
                "{} is a directory: the configuration must be a regular file",
                folder.path().display()
            )
        );
        assert_eq!(
            read_operator_file(Path::new("/dev/zero"), LIMITS).unwrap_err(),
            "/dev/zero is a device: the configuration must be a regular file"
        );
        std::fs::write(&file, [b'a', 0xff, b'\n']).unwrap();
        assert_eq!(
            read_operator_file(&file, LIMITS).unwrap_err(),
            format!("{} is not UTF-8 text (byte 1 is not)", file.display())
        );
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let folder = tempfile::tempdir().unwrap();
        let fifo = folder.path().join("alvares.toml");
        // The test's own fixture: a named pipe nobody writes to.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            read_operator_file(&fifo, LIMITS).unwrap_err(),
            format!(
                "{} is a FIFO (named pipe): the configuration must be a regular file",
                fifo.display()
            )
        );
    }
}
