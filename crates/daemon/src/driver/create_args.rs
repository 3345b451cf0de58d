//! The engine arguments of a container create: Digi's `create_args` with the
//! payload's image and the container's name put in.

use berth_runtime::LoadedImage;

/// The name a loaded image is run by: its first reference, else its id.
pub fn run_name(image: &LoadedImage) -> String {
    image
        .references
        .first()
        .cloned()
        .unwrap_or_else(|| image.id.clone())
}

/// The engine arguments of a create: Digi's `create_args` hold engine options only
/// and the manager supplies the image, so the payload's first image is appended —
/// unless an argument already names one of the payload's images (then what follows
/// it is the container's command, and the arguments are kept as they are). Which
/// argument is the image is decided by the payload's references, never by guessing
/// which options take a value. `None`: the payload has no image.
pub fn with_image(args: &[String], images: &[LoadedImage]) -> Option<Vec<String>> {
    let names_payload_image = args.iter().any(|a| {
        images
            .iter()
            .any(|i| i.id == *a || i.references.iter().any(|r| same_reference(r, a)))
    });
    if names_payload_image {
        return Some(args.to_vec());
    }
    let first = images.first()?;
    let mut out = args.to_vec();
    out.push(run_name(first));
    Some(out)
}

/// Whether two image references name the same image, as podman normalises them
/// (`busybox` = `docker.io/library/busybox:latest`, `app:1` = `localhost/app:1`).
fn same_reference(a: &str, b: &str) -> bool {
    fn normal(r: &str) -> String {
        let r = r
            .strip_prefix("docker.io/library/")
            .or_else(|| r.strip_prefix("docker.io/"))
            .or_else(|| r.strip_prefix("localhost/"))
            .unwrap_or(r);
        let last = r.rsplit('/').next().unwrap_or(r);
        if last.contains(':') || last.contains('@') {
            r.to_string()
        } else {
            format!("{r}:latest")
        }
    }
    a == b || normal(a) == normal(b)
}

/// `args` with the container's name set to `name` (a `--name` in them was checked
/// to be the id).
pub fn with_name(args: &[String], name: &str) -> Vec<String> {
    let mut out = vec!["--name".to_string(), name.to_string()];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--name" {
            it.next();
        } else if !a.starts_with("--name=") {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::split_create_args;

    fn image(refs: &[&str]) -> LoadedImage {
        LoadedImage {
            id: "0123abcd".into(),
            references: refs.iter().map(|r| r.to_string()).collect(),
            new: true,
            transient_name: None,
        }
    }

    fn args(text: &str) -> Vec<String> {
        split_create_args(text).unwrap()
    }

    #[test]
    fn options_only_get_the_first_image_appended() {
        let images = [image(&["localhost/app:1"]), image(&["localhost/other:2"])];
        assert_eq!(
            with_image(&args("--privileged --network host --tty"), &images).unwrap(),
            [
                "--privileged",
                "--network",
                "host",
                "--tty",
                "localhost/app:1"
            ]
        );
        // A value that is an image name, but not the payload's, is not taken for it.
        assert_eq!(
            with_image(&args("-v busybox:/x --network host"), &images[..1]).unwrap(),
            ["-v", "busybox:/x", "--network", "host", "localhost/app:1"]
        );
        // An untagged image runs by its id; no image at all is an error.
        assert_eq!(with_image(&[], &[image(&[])]).unwrap(), ["0123abcd"]);
        assert_eq!(with_image(&args("--tty"), &[]), None);
    }

    #[test]
    fn an_argument_naming_a_payload_image_keeps_the_arguments_as_they_are() {
        let images = [
            image(&["localhost/app:1"]),
            image(&["docker.io/library/busybox:latest"]),
        ];
        for text in [
            "--init localhost/app:1",
            "app:1 sh -c 'x'",
            "--tty busybox",
            "0123abcd",
        ] {
            assert_eq!(
                with_image(&args(text), &images).unwrap(),
                args(text),
                "{text}"
            );
        }
    }
}
