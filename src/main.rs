use std::io::{ErrorKind, Read, Write};
use std::process::ExitCode;

use clap::Parser;

use alvares::cli::{Cli, Command, check_config, enrich_json, render_json};
use alvares::config::{Env, Settings};
use alvares::healthcheck;
use alvares::logging;
use alvares::startup::Application;

/// mimalloc rather than glibc's allocator: each event makes and drops many
/// small values (JSON, headers, rows), and glibc's malloc and free were a
/// fifth of intake's instructions (callgrind, README "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Tests build the binary with fail points; `FAILPOINTS` names them.
    #[cfg(feature = "failpoints")]
    let _fail_points = fail::FailScenario::setup();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // These two read the operator file themselves, naming its errors.
    match &command {
        Command::CheckConfig { file, json } => {
            return print_or_fail(
                "check-config",
                check_config(file.as_deref(), &Env::from_process(), *json),
            );
        }
        Command::Render { subscriber, kind } => {
            let mut input = String::new();
            if let Err(error) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("alvares render: could not read stdin: {error}");
                return ExitCode::from(1);
            }
            let rendered = render_json(Env::from_process(), subscriber, kind.as_deref(), &input);
            return print_or_fail("render", rendered);
        }
        _ => {}
    }
    let settings = match Settings::from_process_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("alvares: configuration error: {error}");
            // Docker reserves a health check's exit code 2: unhealthy is 1.
            let code = if command == Command::Healthcheck {
                1
            } else {
                2
            };
            return ExitCode::from(code);
        }
    };
    match command {
        Command::Serve => serve(settings),
        Command::CheckConfig { .. } | Command::Render { .. } => {
            unreachable!("answered before the settings are read")
        }
        Command::Healthcheck => healthcheck::run(settings.server.port),
        Command::Enrich => {
            let mut input = String::new();
            if let Err(error) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("alvares enrich: could not read stdin: {error}");
                return ExitCode::from(1);
            }
            match enrich_json(&settings, &input) {
                Ok(output) => print(&output),
                Err(error) => {
                    eprintln!("alvares enrich: {error}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Prints what a command made, or its error with exit status 1.
fn print_or_fail(command: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(output) => print(&output),
        Err(error) => {
            eprintln!("alvares {command}: {error}");
            ExitCode::from(1)
        }
    }
}

/// Writes a command's output and a newline on stdout. A reader that has
/// gone (`alvares check-config | head`) is no failure of the command: it
/// ends quietly with status 0, as if everything had been read.
fn print(output: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{output}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("alvares: could not write the output: {error}");
            ExitCode::from(1)
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    logging::init(settings.server.debug.0, settings.server.log_format);
    logging::log_panics();
    let result = actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).await?;
        application.run_until_stopped().await
    });
    match result {
        Ok(()) => {
            log::info!("alvares: stopped cleanly (exit status 0)");
            ExitCode::SUCCESS
        }
        Err(error) => {
            log::error!("alvares: exiting with status 1: {error}");
            eprintln!("alvares: {error}");
            ExitCode::from(1)
        }
    }
}
