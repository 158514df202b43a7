fn main() -> std::process::ExitCode {
    inspine::cli::main()
}
