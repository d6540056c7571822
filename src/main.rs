//! The `partnermatch` command line: `serve`, and the commands around it
//! (`broker`, `families`, `bench`, `token`, `config`). See `src/cli/`.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::run()
}
