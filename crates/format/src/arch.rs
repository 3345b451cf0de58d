//! Architecture names: Rust's and Debian's as Go (and so OCI image configs) write
//! them. One table for the image builder's platforms and berthd's loader.

/// Go's architecture and variant for a Rust (`std::env::consts::ARCH`) or Debian
/// architecture name; an unknown name is passed through as it is.
pub fn go_arch(arch: &str) -> (&str, Option<&'static str>) {
    match arch {
        "x86_64" | "amd64" => ("amd64", None),
        "aarch64" | "arm64" => ("arm64", Some("v8")),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "arm" => ("arm", Some("v7")),
        "x86" | "i386" | "i686" => ("386", None),
        "powerpc64" | "ppc64el" => ("ppc64le", None),
        "mipsel" => ("mipsle", None),
        other => (other, None),
    }
}

/// Go's name for the architecture this program was built for.
pub fn host_go_arch() -> &'static str {
    go_arch(std::env::consts::ARCH).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_and_debian_names_map_to_gos() {
        for (name, go) in [
            ("x86_64", ("amd64", None)),
            ("aarch64", ("arm64", Some("v8"))),
            ("armhf", ("arm", Some("v7"))),
            ("armel", ("arm", Some("v6"))),
            ("i686", ("386", None)),
            ("ppc64el", ("ppc64le", None)),
            ("riscv64", ("riscv64", None)),
        ] {
            assert_eq!(go_arch(name), go, "{name}");
        }
    }
}
