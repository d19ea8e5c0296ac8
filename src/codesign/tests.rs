use super::*;
use crate::edit;
use crate::error::ErrorKind;

/// A SuperBlob with one CodeDirectory (version 0x20400, lld's layout) over `code_limit` bytes,
/// plus optional extra blobs `(slot, bytes)`.
pub(crate) fn superblob(
    data: &[u8],
    code_limit: usize,
    page_log2: u8,
    flags: u32,
    hash_type: u8,
    extra: &[(u32, Vec<u8>)],
) -> Vec<u8> {
    let ident = b"prog\0";
    let header = 88usize;
    let ht = HashType::from_cs(hash_type);
    let hash_size = ht.map_or(20, HashType::digest_len) as usize;
    let page = 1usize << page_log2;
    let n = code_limit.div_ceil(page);
    let hash_offset = header + ident.len();
    let cd_len = hash_offset + n * hash_size;
    let mut cd = Vec::new();
    let be = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_be_bytes());
    be(&mut cd, 0xfade_0c02);
    be(&mut cd, cd_len as u32);
    be(&mut cd, 0x20400);
    be(&mut cd, flags);
    be(&mut cd, hash_offset as u32);
    be(&mut cd, header as u32);
    be(&mut cd, 0);
    be(&mut cd, n as u32);
    be(&mut cd, code_limit as u32);
    cd.extend_from_slice(&[hash_size as u8, hash_type, 0, page_log2]);
    be(&mut cd, 0);
    cd.resize(header, 0);
    cd.extend_from_slice(ident);
    for i in 0..n {
        let chunk = &data[i * page..((i + 1) * page).min(code_limit)];
        match ht {
            Some(t) => cd.extend_from_slice(&t.digest(chunk)),
            None => cd.extend_from_slice(&[0; 20]),
        }
    }
    let mut blobs = vec![(0u32, cd)];
    blobs.extend(extra.iter().cloned());
    let mut out = Vec::new();
    be(&mut out, 0xfade_0cc0);
    let total: usize = 12 + 8 * blobs.len() + blobs.iter().map(|b| b.1.len()).sum::<usize>();
    be(&mut out, total as u32);
    be(&mut out, blobs.len() as u32);
    let mut at = 12 + 8 * blobs.len();
    for (slot, b) in &blobs {
        be(&mut out, *slot);
        be(&mut out, at as u32);
        at += b.len();
    }
    for (_, b) in &blobs {
        out.extend_from_slice(b);
    }
    out
}

fn signed_image(flags: u32, hash_type: u8, extra: &[(u32, Vec<u8>)]) -> (Vec<u8>, u64, u64) {
    let mut data: Vec<u8> = (0..0x2800u32).map(|i| (i * 7) as u8).collect();
    let sig = superblob(&data, data.len(), 12, flags, hash_type, extra);
    let (off, len) = (data.len() as u64, sig.len() as u64);
    data.extend_from_slice(&sig);
    (data, off, len)
}

#[test]
fn adhoc_rehash_touches_only_changed_pages() {
    let (data, off, len) = signed_image(0x20002, 2, &[]);
    let sig = parse(&data, off, len).unwrap();
    assert_eq!(sig.directories.len(), 1);
    let cd = &sig.directories[0];
    assert_eq!((cd.page_size, cd.n_code_slots, cd.code_limit), (4096, 3, 0x2800));
    assert!(stale_pages(&sig, &data).unwrap().is_empty());

    let edits = vec![Edit::overwrite(0x1ffc, vec![0xAA; 8])]; // straddles pages 1 and 2
    let mut patched = data.clone();
    edit::apply_in_place(&mut patched, &edits).unwrap();
    assert_eq!(stale_pages(&sig, &patched).unwrap(), vec![(off + 20, 1), (off + 20, 2)]);
    let fix = rehash(&sig, &data, &edits).unwrap();
    assert_eq!(fix.len(), 2);
    assert_eq!(fix[0].offset, cd.slots_offset + 32);
    edit::apply_in_place(&mut patched, &fix).unwrap();
    assert!(stale_pages(&sig, &patched).unwrap().is_empty());
    // Deterministic, and identical to a from-scratch signature of the patched bytes.
    let again = superblob(&patched[..0x2800], 0x2800, 12, 0x20002, 2, &[]);
    assert_eq!(&patched[0x2800..], &again[..]);
}

#[test]
fn certificate_and_unknown_hashes_are_refused() {
    let (data, off, len) = signed_image(0x0, 2, &[]);
    let e = parse(&data, off, len).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("not ad hoc"), "{e}");

    let cms = vec![0xfa, 0xde, 0x0b, 0x01, 0, 0, 0, 12, 1, 2, 3, 4];
    let (data, off, len) = signed_image(0x20002, 2, &[(0x10000, cms)]);
    let e = parse(&data, off, len).unwrap_err();
    assert!(e.message().contains("certificate"), "{e}");

    let empty_cms = vec![0xfa, 0xde, 0x0b, 0x01, 0, 0, 0, 8];
    let (data, off, len) = signed_image(0x20002, 2, &[(0x10000, empty_cms)]);
    parse(&data, off, len).unwrap();

    let (data, off, len) = signed_image(0x20002, 1, &[]);
    let e = parse(&data, off, len).unwrap_err();
    assert!(e.message().contains("hash type 1"), "{e}");
}

#[test]
fn several_code_directories_are_each_rehashed() {
    let data: Vec<u8> = (0..0x1800u32).map(|i| (i * 3) as u8).collect();
    // A second CodeDirectory (SHA-384, 2 KiB pages) as an alternate.
    let alt_sb = superblob(&data, data.len(), 11, 0x2, 4, &[]);
    let alt = alt_sb[20..].to_vec();
    let sb = superblob(&data, data.len(), 12, 0x2, 2, &[(0x1000, alt)]);
    let mut img = data.clone();
    img.extend_from_slice(&sb);
    let sig = parse(&img, 0x1800, sb.len() as u64).unwrap();
    assert_eq!(sig.directories.len(), 2);
    assert_eq!(sig.directories[1].page_size, 2048);
    let edits = vec![Edit::overwrite(0x900, vec![1])];
    let mut patched = img.clone();
    edit::apply_in_place(&mut patched, &edits).unwrap();
    let fix = rehash(&sig, &img, &edits).unwrap();
    assert_eq!(fix.len(), 2, "one slot per directory");
    edit::apply_in_place(&mut patched, &fix).unwrap();
    assert!(stale_pages(&sig, &patched).unwrap().is_empty());
}

#[test]
fn damaged_signatures_do_not_panic() {
    let (data, off, len) = signed_image(0x20002, 2, &[]);
    for cut in [0u64, 4, 11, 20, 60, 100] {
        let _ = parse(&data, off, cut.min(len));
    }
    let mut bad = data.clone();
    // nCodeSlots = 1000
    let at = off as usize + 20 + 28;
    bad[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
    assert!(parse(&bad, off, len).is_err());
}
