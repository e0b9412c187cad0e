use std::io::Read;
use std::process::ExitCode;

use clap::Parser;

use alvares::cli::{Cli, Command, enrich_json};
use alvares::config::Settings;
use alvares::logging;
use alvares::startup::Application;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_process_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("alvares: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Enrich => {
            let mut input = String::new();
            if let Err(error) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("alvares enrich: could not read stdin: {error}");
                return ExitCode::from(1);
            }
            match enrich_json(&settings, &input) {
                Ok(output) => {
                    println!("{output}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("alvares enrich: {error}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    logging::init(settings.server.debug.0);
    let result = actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).await?;
        application.run_until_stopped().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("alvares stopped: {error}");
            eprintln!("alvares: {error}");
            ExitCode::from(1)
        }
    }
}
