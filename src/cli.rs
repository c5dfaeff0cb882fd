//! The command line: `fitpulse [--config FILE] [serve|migrate]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fitpulse",
    version,
    about = "Real-time engagement server for fitness apps"
)]
pub struct Cli {
    /// Configuration file (TOML), read between the defaults and the FITPULSE__* environment.
    #[arg(long, global = true, env = "FITPULSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create or upgrade the store's schema; running it again changes nothing.
    Migrate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["fitpulse"]).expect("parses");
        assert!(cli.command.is_none());
    }

    #[test]
    fn the_config_flag_is_accepted_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["fitpulse", "migrate", "--config", "fp.toml"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Migrate)));
        assert_eq!(cli.config, Some(PathBuf::from("fp.toml")));
    }

    #[test]
    fn an_unknown_subcommand_is_a_usage_error() {
        assert!(Cli::try_parse_from(["fitpulse", "serv"]).is_err());
    }
}
