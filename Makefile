# The two commands of the README, and the pieces they are made of.
.PHONY: run test site decoy release lint bench

run: release
	./target/release/decnet serve

test:
	scripts/setup.sh test
	cargo run -q -p xtask -- site
	cargo build -p decnet-decoy --release --target x86_64-unknown-linux-musl
	cargo build -p decnet-common --target wasm32-unknown-unknown
	cargo test --workspace --exclude frontend --no-fail-fast

site:
	cargo run -q -p xtask -- site

# The static decoy binary that becomes the decoy image (found beside `decnet` or here).
decoy:
	cargo build -p decnet-decoy --release --target x86_64-unknown-linux-musl

release:
	scripts/setup.sh run
	cargo run -q -p xtask -- site
	cargo build -p decnet-decoy --release --target x86_64-unknown-linux-musl
	cargo build --release -p server

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
