//! The kms-audit command: parses the command line, runs the library, and turns the outcome
//! into an exit code (0 success, 2 usage or input error).

mod cli;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let cli = cli::Cli::parse();
    if matches!(cli.command, cli::Command::Scan(_) | cli::Command::Report(_)) {
        keep_freed_memory();
    }
    match commands::run(cli) {
        Ok(code) => code,
        // A closed stdout (`kms-audit scan … | head`) is not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Opts the process out of transparent huge pages (as `MIMALLOC_ALLOW_THP=0` would). Where
/// the system enables them for every mapping, each fresh 2 MiB of the allocator's arenas is
/// zeroed whole on first touch; `scan` allocates and frees gigabytes of short-lived column
/// buffers, and spent about as long in those faults as in the rules themselves
/// (`bench/README.md`). Ordinary 4 KiB pages are zeroed only where written.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::{c_int, c_ulong};
        extern "C" {
            fn prctl(option: c_int, ...) -> c_int;
        }
        const PR_SET_THP_DISABLE: c_int = 41;
        // SAFETY: PR_SET_THP_DISABLE reads four integer arguments and touches no memory of
        // ours; a kernel without it returns an error, which changes nothing.
        unsafe {
            prctl(
                PR_SET_THP_DISABLE,
                1 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
            );
        }
    }
}

/// Tells the allocator (mimalloc) to keep freed memory for reuse rather than hand it back to
/// the system a second after it is freed (as `MIMALLOC_PURGE_DELAY=-1` would). The rule pack
/// frees and allocates gigabytes of column buffers in waves, and every page handed back
/// returns as a fresh page fault to be zeroed: keeping them made the pack over a 2 M-event
/// lake about 5 % faster (bench/README.md). Only the commands that evaluate the rule pack over
/// a lake (`scan`, `report`), which end soon after their peak, do this; the others, the
/// long-running `kms serve` among them, keep the default.
fn keep_freed_memory() {
    use std::ffi::{c_int, c_long};
    extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
    }
    // `mi_option_purge_delay` in the `mi_option_e` of mimalloc v3 (include/mimalloc.h), the
    // version the `mimalloc` crate builds without its `v2` feature.
    const MI_OPTION_PURGE_DELAY: c_int = 15;
    // SAFETY: mi_option_set stores an integer option of the statically linked mimalloc.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            || matches!(cause.downcast_ref::<kms_audit::Error>(), Some(kms_audit::Error::Output(io)) if broken(io))
    })
}
