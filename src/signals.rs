//! The binary's side of interruption: on SIGINT, SIGTERM or SIGHUP, remove the temporary
//! output files being written, then end the way the signal would have ended the process.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Starts a thread that waits for a terminating signal. Without it (if the handler cannot be
/// installed) a signal still never leaves a file that looks finished, only hidden .partial
/// files, which the next run into the folder sweeps.
pub fn remove_partial_files_on_signals() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _held = stancemeter::output::abandon_partial_files();
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}
