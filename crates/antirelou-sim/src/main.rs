//! `antirelou-sim`: replay a scenario against the naive policy of 2017 and antirelou's defences.
//!
//! ```text
//! antirelou-sim list
//! antirelou-sim replay paris-2017
//! antirelou-sim replay paris-2017 --seed 7 --json
//! antirelou-sim replay path/to/my-scenario.toml --out charts/
//! antirelou-sim gallery
//! antirelou-sim gallery --json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use antirelou_sim::replay::Replay;
use antirelou_sim::scenario::{BUILTIN, Scenario};
use antirelou_sim::{SimError, chart, gallery, replay, report};
use clap::{Parser, Subcommand};

/// Replay floods, raids and media surges against the real antirelou engine on a virtual clock.
#[derive(Debug, Parser)]
#[command(name = "antirelou-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the built-in scenarios.
    List,
    /// Run a scenario twice (naive, antirelou) and compare.
    Replay {
        /// A built-in scenario's name (see `list`) or the path of a scenario TOML file.
        scenario: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run every built-in scenario naive and antirelou (default defences) and compare them.
    Gallery {
        #[command(flatten)]
        run: RunArgs,
    },
}

/// What `replay` and `gallery` share: the seed, the output form and where charts go.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Seed of the traffic generators, for every scenario run (default: each scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Print one JSON object instead of the tables (the charts are written all the same; their
    /// paths are in the JSON).
    #[arg(long)]
    json: bool,
    /// Folder for the SVG charts (one per scenario).
    #[arg(long, default_value = "target/antirelou-sim")]
    out: PathBuf,
}

/// Write a replay's chart into `out` and return its path.
fn write_chart(out: &std::path::Path, s: &Scenario, r: &Replay) -> Result<PathBuf, SimError> {
    let safe: String = s
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let file = out.join(format!("{safe}-seed{}-spend.svg", r.report.seed));
    chart::write_spend_chart(&file, r, s.budget.funds().map(|m| m.as_units_f64()))?;
    Ok(file)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, SimError> {
    serde_json::to_string(v).map_err(|e| SimError::Chart(format!("json: {e}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("antirelou-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), SimError> {
    match cli.command {
        Command::List => {
            for (name, _) in BUILTIN {
                let s = Scenario::builtin(name)
                    .ok_or_else(|| SimError::UnknownScenario((*name).into()))??;
                println!("{name:<16} {}", s.description);
            }
            println!();
            println!(
                "Replay one with `antirelou-sim replay NAME`, your own with `antirelou-sim replay FILE.toml`, or all of them side by side with `antirelou-sim gallery`."
            );
            Ok(())
        }
        Command::Replay {
            scenario,
            run: RunArgs { seed, json, out },
        } => {
            let started = Instant::now();
            let s = Scenario::load(&scenario)?;
            let mut r = replay(&s, seed)?;
            let file = write_chart(&out, &s, &r)?;
            r.report.chart = Some(file.display().to_string());
            if json {
                println!("{}", to_json(&r.report)?);
                return Ok(());
            }
            print!("{}", report::table(&r));
            println!();
            println!("chart of cumulative spend: {}", file.display());
            println!("(simulated in {:.2} s)", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Gallery {
            run: RunArgs { seed, json, out },
        } => {
            let started = Instant::now();
            let scenarios = Scenario::all_builtin()?;
            let mut replays = gallery::run(&scenarios, seed)?;
            for (s, r) in scenarios.iter().zip(replays.iter_mut()) {
                let file = write_chart(&out, s, r)?;
                r.report.chart = Some(file.display().to_string());
            }
            if json {
                println!("{}", to_json(&gallery::report(&scenarios, &replays))?);
                return Ok(());
            }
            print!("{}", gallery::text(&replays));
            println!();
            println!("charts in {}", out.display());
            println!("(simulated in {:.2} s)", started.elapsed().as_secs_f64());
            Ok(())
        }
    }
}
