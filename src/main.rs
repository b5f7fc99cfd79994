fn main() {
    std::process::exit(haven::cli::main());
}
