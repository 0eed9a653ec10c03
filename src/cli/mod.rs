//! The command line: one small module per subcommand, each turning arguments into library
//! options and the result into output through the printer.

mod backup;
mod export;
mod info;
mod list;
mod printer;
mod reindex;
mod restore;
mod search;
mod show;
mod verify;

use clap::{Parser, Subcommand};

/// Exit codes, as documented in the README and `--help`.
pub const EXIT_OK: i32 = 0;
pub const EXIT_NEGATIVE: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

#[derive(Parser)]
#[command(
    name = "qqvault",
    version,
    about = "Turn QQ chat exports and QQ data folders into one verified, searchable zip archive",
    after_help = "Exit codes: 0 success; 1 a negative answer (verify found damage, search found nothing); \
2 an error (bad arguments, a file that cannot be opened, inputs skipped)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Backup(backup::Args),
    Verify(verify::Args),
    Restore(restore::Args),
    List(list::Args),
    Show(show::Args),
    Search(search::Args),
    Reindex(reindex::Args),
    Export(export::Args),
    Info(info::Args),
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Backup(a) => backup::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Restore(a) => restore::run(a),
        Command::List(a) => list::run(a),
        Command::Show(a) => show::run(a),
        Command::Search(a) => search::run(a),
        Command::Reindex(a) => reindex::run(a),
        Command::Export(a) => export::run(a),
        Command::Info(a) => info::run(a),
    };
    match result {
        Ok(code) => code,
        Err(printer::Failure::BrokenPipe) => EXIT_OK,
        Err(printer::Failure::Error(e)) => {
            printer::error(&e);
            EXIT_ERROR
        }
    }
}
