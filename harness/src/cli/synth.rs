//! `harness synth --orders N --out FILE`: a large clean history in the documented
//! format (`check::synth`), to measure `harness check` at soak scale without the run
//! (docs/performance.md). A `.zst` name writes it compressed.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Orders to generate (about 10 observations each).
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Where to write it; a name ending in `.zst` is zstd-compressed.
    #[arg(long)]
    pub out: PathBuf,
    /// Orders per second of the schedule.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The guarantee the meta line names.
    #[arg(long, default_value = "exactly-once")]
    pub guarantee: String,
}

pub fn run(args: SynthArgs) -> anyhow::Result<u8> {
    let guarantee = check::Guarantee::from_name(&args.guarantee).with_context(|| {
        format!(
            "--guarantee {:?}: expected one of {}",
            args.guarantee,
            check::Guarantee::NAMES.join(", ")
        )
    })?;
    if !(args.rate.is_finite() && args.rate > 0.0) {
        anyhow::bail!("--rate {}: expected orders per second above 0", args.rate);
    }
    let synth = check::synth::Synth {
        orders: args.orders,
        rate: args.rate,
        seed: args.seed,
        guarantee,
        ..Default::default()
    };
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let shown = args.out.display();
    let written = if args.out.extension().is_some_and(|e| e == "zst") {
        let mut encoder = zstd::stream::write::Encoder::new(BufWriter::new(file), 3)?;
        let written = check::synth::write(&synth, &mut encoder);
        encoder.finish()?.flush()?;
        written
    } else {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let written = check::synth::write(&synth, &mut out);
        out.flush()?;
        written
    }
    .with_context(|| format!("writing {shown}"))?;
    let size = std::fs::metadata(&args.out).map_or(0, |m| m.len());
    crate::say!(
        "{shown}: {} orders, {} observations, {} lines; {} bytes of JSON ({:.0} per observation), {} on disk",
        args.orders,
        written.observations,
        written.lines,
        written.bytes,
        written.bytes as f64 / written.observations.max(1) as f64,
        size
    );
    Ok(crate::exit::PASS)
}
