//! The second link's command line (pure): the user's arguments, unchanged, followed by the
//! output override and the padding object as a linker input.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whose command line it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// clang or gcc: linker inputs go through `-Wl,`.
    Driver,
    /// ld.lld, ld.bfd, gold, mold, ld64.lld run directly: a plain input.
    Linker,
}

/// True when a driver line names more than one architecture (`-arch x86_64 -arch arm64`): its
/// output is a universal binary, whose slices would each need their own reservation.
pub fn several_archs(args: &[OsString]) -> bool {
    let mut first: Option<&OsStr> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg != "-arch" {
            continue;
        }
        let Some(value) = iter.next() else { break };
        match first {
            None => first = Some(value),
            Some(f) if f != value.as_os_str() => return true,
            Some(_) => {}
        }
    }
    false
}

/// The arguments of the second link: `args` as the user gave them, then an output option that
/// overrides theirs, then the padding object.
///
/// The override is appended rather than edited in place: every supported tool takes the last
/// output option (clang, gcc, ld.lld, ld.bfd, gold, mold, ld64.lld; shim-tests/room.rs checks
/// each), and appending also covers an output named inside a response file. On a driver line it
/// takes the same form as the option that set the output: the driver's own `-o`, or a
/// linker-level `-Wl,-o,` (`from_linker_option`), which the linker sees after the driver's `-o`.
///
/// The object goes in as `-Wl,<obj>` on a driver line (a bare `pad.o` after a user's `-x c` would
/// be compiled as C), or as `-Xlinker <obj>` when its path holds a comma, which `-Wl,` would
/// split; on a linker line it is a plain input, which no positional option (`--as-needed`,
/// `-Bstatic`, `--whole-archive`) affects.
pub fn second_link(
    style: Style,
    args: &[OsString],
    from_linker_option: bool,
    output: &Path,
    pad: &Path,
) -> Vec<OsString> {
    let mut out = args.to_vec();
    match style {
        Style::Linker => {
            out.push("-o".into());
            out.push(output.into());
            out.push(pad.into());
        }
        Style::Driver => {
            if from_linker_option {
                linker_args(&mut out, &[OsStr::new("-o"), output.as_os_str()]);
            } else {
                out.push("-o".into());
                out.push(output.into());
            }
            linker_args(&mut out, &[pad.as_os_str()]);
        }
    }
    out
}

/// Appends `values` as linker arguments of a driver line: one `-Wl,a,b` when no value holds a
/// comma, otherwise `-Xlinker a -Xlinker b`.
fn linker_args(out: &mut Vec<OsString>, values: &[&OsStr]) {
    if values.iter().any(|v| v.as_bytes().contains(&b',')) {
        for v in values {
            out.push("-Xlinker".into());
            out.push(v.into());
        }
    } else {
        let mut wl = OsString::from("-Wl");
        for v in values {
            wl.push(",");
            wl.push(v);
        }
        out.push(wl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    /// style, user's arguments, from_linker_option, second output, pad, expected line.
    type Case<'a> = (Style, &'a [&'a str], bool, &'a Path, &'a Path, &'a [&'a str]);

    #[test]
    fn second_link_lines() {
        let out = Path::new("/tmp/s/out/prog");
        let pad = Path::new("/tmp/s/llgo-ld-pad.o");
        let comma_out = Path::new("/tmp/a,b/out/prog");
        let comma_pad = Path::new("/tmp/a,b/llgo-ld-pad.o");
        #[rustfmt::skip]
        let cases: &[Case<'_>] = &[
            (Style::Driver, &["-x", "c", "a.c", "-o", "prog"], false, out, pad,
             &["-x", "c", "a.c", "-o", "prog", "-o", "/tmp/s/out/prog", "-Wl,/tmp/s/llgo-ld-pad.o"]),
            (Style::Driver, &["a.o", "-Wl,-o,prog"], true, out, pad,
             &["a.o", "-Wl,-o,prog", "-Wl,-o,/tmp/s/out/prog", "-Wl,/tmp/s/llgo-ld-pad.o"]),
            (Style::Driver, &["a.o"], false, comma_out, comma_pad,
             &["a.o", "-o", "/tmp/a,b/out/prog", "-Xlinker", "/tmp/a,b/llgo-ld-pad.o"]),
            (Style::Driver, &["a.o", "-Xlinker", "-o", "-Xlinker", "p"], true, comma_out, pad,
             &["a.o", "-Xlinker", "-o", "-Xlinker", "p", "-Xlinker", "-o", "-Xlinker",
               "/tmp/a,b/out/prog", "-Wl,/tmp/s/llgo-ld-pad.o"]),
            (Style::Driver, &["@args.rsp"], false, out, pad,
             &["@args.rsp", "-o", "/tmp/s/out/prog", "-Wl,/tmp/s/llgo-ld-pad.o"]),
            (Style::Linker, &["crt1.o", "a.o", "-lc", "-o", "prog", "--as-needed"], false, out, pad,
             &["crt1.o", "a.o", "-lc", "-o", "prog", "--as-needed", "-o", "/tmp/s/out/prog",
               "/tmp/s/llgo-ld-pad.o"]),
            (Style::Linker, &["a.o", "--output=prog"], true, comma_out, comma_pad,
             &["a.o", "--output=prog", "-o", "/tmp/a,b/out/prog", "/tmp/a,b/llgo-ld-pad.o"]),
        ];
        for (style, args, from_linker, out, pad, want) in cases {
            let got = second_link(*style, &os(args), *from_linker, out, pad);
            assert_eq!(got, os(want), "{style:?} {args:?}");
            assert_eq!(
                &got[..args.len()],
                &os(args)[..],
                "the user's arguments come first, unchanged"
            );
        }
    }

    #[test]
    fn several_archs_only_with_distinct_values() {
        assert!(!several_archs(&os(&["-arch", "arm64", "a.o"])));
        assert!(!several_archs(&os(&["-arch", "arm64", "-arch", "arm64"])));
        assert!(several_archs(&os(&["-arch", "arm64", "a.o", "-arch", "x86_64"])));
        assert!(!several_archs(&os(&["-arch"])));
        assert!(!several_archs(&os(&["-march=x86-64", "-arch=arm64"])));
    }
}
