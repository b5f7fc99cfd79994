fn main() {
    haven::tune_allocator();
    std::process::exit(haven::cli::main());
}
