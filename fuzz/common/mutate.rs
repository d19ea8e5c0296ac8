//! A structure-aware mutator next to libFuzzer's byte-level one: it finds the header fields of
//! an ELF or Mach-O input (ELF header, program and section headers, symbols; Mach-O load
//! commands, segments, sections, `__LINKEDIT` offsets, chained-fixup headers and chain `next`
//! fields) and sets one of them to a value a hostile file would use (0, all ones, off by a
//! little or a page, another field's value, the file's length, a flipped bit). Half of the
//! mutations are libFuzzer's own.

/// A field: file offset and width in bytes (2, 4 or 8).
type Field = (usize, usize);

/// A small deterministic generator seeded by libFuzzer.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u32) -> Self {
        Rng(u64::from(seed) ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn get(d: &[u8], off: usize, w: usize) -> Option<u64> {
    let b = d.get(off..off.checked_add(w)?)?;
    let mut buf = [0u8; 8];
    buf[..w].copy_from_slice(b);
    Some(u64::from_le_bytes(buf))
}

fn put(d: &mut [u8], off: usize, w: usize, v: u64) {
    if let Some(b) = off.checked_add(w).and_then(|end| d.get_mut(off..end)) {
        b.copy_from_slice(&v.to_le_bytes()[..w]);
    }
}

/// The fields of an ELF64 LE file.
fn elf_fields(d: &[u8], rng: &mut Rng) -> Vec<Field> {
    let mut f: Vec<Field> = vec![
        (0x10, 2),
        (0x20, 8),
        (0x28, 8),
        (0x36, 2),
        (0x38, 2),
        (0x3a, 2),
        (0x3c, 2),
        (0x3e, 2),
    ];
    let (Some(phoff), Some(phnum)) = (get(d, 0x20, 8), get(d, 0x38, 2)) else { return f };
    for i in 0..phnum.min(64) as usize {
        let p = (phoff as usize).wrapping_add(i * 56);
        if p > d.len() {
            break;
        }
        // p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        f.extend([
            (p, 4),
            (p + 4, 4),
            (p + 8, 8),
            (p + 16, 8),
            (p + 32, 8),
            (p + 40, 8),
            (p + 48, 8),
        ]);
    }
    let (Some(shoff), Some(shnum)) = (get(d, 0x28, 8), get(d, 0x3c, 2)) else { return f };
    for i in 0..shnum.min(256) as usize {
        let s = (shoff as usize).wrapping_add(i * 64);
        if s > d.len() {
            break;
        }
        // sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link
        f.extend([(s + 4, 4), (s + 8, 8), (s + 16, 8), (s + 24, 8), (s + 32, 8), (s + 40, 4)]);
        // A few words inside the section (records, meta rows, symbols, index entries).
        if let (Some(off), Some(size)) = (get(d, s + 24, 8), get(d, s + 32, 8)) {
            if size >= 8 && (off as usize) < d.len() {
                for _ in 0..2 {
                    let at =
                        (off as usize).wrapping_add(rng.below((size / 8) as usize).wrapping_mul(8));
                    f.push((at, 8));
                }
            }
        }
    }
    f
}

/// The fields of a Mach-O 64 image at `base`.
fn macho_fields(d: &[u8], base: usize, rng: &mut Rng) -> Vec<Field> {
    if base > d.len() {
        return Vec::new();
    }
    let mut f: Vec<Field> = vec![(base + 16, 4), (base + 20, 4)];
    let Some(ncmds) = get(d, base + 16, 4) else { return f };
    let mut at = base + 32;
    for _ in 0..ncmds.min(128) {
        if at > d.len() {
            break;
        }
        let (Some(cmd), Some(size)) = (get(d, at, 4), get(d, at + 4, 4)) else { break };
        f.push((at + 4, 4));
        match cmd {
            0x19 => {
                // LC_SEGMENT_64: vmaddr, vmsize, fileoff, filesize, nsects; sections.
                f.extend([(at + 24, 8), (at + 32, 8), (at + 40, 8), (at + 48, 8), (at + 64, 4)]);
                let nsects = get(d, at + 64, 4).unwrap_or(0).min(64) as usize;
                for k in 0..nsects {
                    let s = at + 72 + k * 80;
                    // addr, size, offset, reloff, flags
                    f.extend([(s + 32, 8), (s + 40, 8), (s + 48, 4), (s + 56, 4), (s + 64, 4)]);
                }
                // Chain `next` fields: words of the segment's file bytes.
                if let (Some(fo), Some(fs)) = (get(d, at + 40, 8), get(d, at + 48, 8)) {
                    if fs >= 8 {
                        for _ in 0..4 {
                            f.push((
                                (fo as usize)
                                    .wrapping_add(base)
                                    .wrapping_add(rng.below((fs / 8) as usize).wrapping_mul(8))
                                    .wrapping_add(6),
                                2,
                            ));
                        }
                    }
                }
            }
            0x2 => f.extend([(at + 8, 4), (at + 12, 4), (at + 16, 4), (at + 20, 4)]),
            0xb => {
                for k in 0..18 {
                    f.push((at + 8 + 4 * k, 4));
                }
            }
            0x8000_0034 => {
                // LC_DYLD_CHAINED_FIXUPS: dataoff, datasize, and the header fields it points at.
                f.extend([(at + 8, 4), (at + 12, 4)]);
                if let Some(off) = get(d, at + 8, 4) {
                    let h = base.wrapping_add(off as usize);
                    let h = h.min(d.len()); // no overflow below; out-of-range fields are dropped
                                            // version, starts_offset, imports_offset, symbols_offset, imports_count,
                                            // imports_format, symbols_format
                    for k in 0..7 {
                        f.push((h + 4 * k, 4));
                    }
                    if let Some(so) = get(d, h + 4, 4) {
                        let starts = h.wrapping_add(so as usize);
                        let starts = starts.min(d.len());
                        f.push((starts, 4));
                        let n = get(d, starts, 4).unwrap_or(0).min(16) as usize;
                        for k in 0..n {
                            f.push((starts + 4 + 4 * k, 4));
                            if let Some(so2) = get(d, starts + 4 + 4 * k, 4) {
                                let seg = starts.wrapping_add(so2 as usize);
                                if seg > d.len() {
                                    continue;
                                }
                                // size, page_size, pointer_format, segment_offset,
                                // max_valid_pointer, page_count, page_start[0..]
                                f.extend([
                                    (seg, 4),
                                    (seg + 4, 2),
                                    (seg + 6, 2),
                                    (seg + 8, 8),
                                    (seg + 16, 4),
                                    (seg + 20, 2),
                                ]);
                                for p in 0..4 {
                                    f.push((seg + 22 + 2 * p, 2));
                                }
                            }
                        }
                    }
                    if let (Some(io), Some(count)) = (get(d, h + 8, 4), get(d, h + 16, 4)) {
                        for _ in 0..2 {
                            f.push((
                                h.wrapping_add(io as usize)
                                    .wrapping_add(4 * rng.below(count.min(4096) as usize)),
                                4,
                            ));
                        }
                    }
                }
            }
            0x1d | 0x26 | 0x29 | 0x8000_0033 => f.extend([(at + 8, 4), (at + 12, 4)]),
            0x22 | 0x8000_0022 => {
                for k in 0..10 {
                    f.push((at + 8 + 4 * k, 4));
                }
            }
            _ => {}
        }
        if size < 8 {
            break;
        }
        at = at.wrapping_add(size as usize);
    }
    f
}

/// One structure-aware mutation of `data[..size]` in place; returns the new size.
pub fn structured(data: &mut [u8], size: usize, rng: &mut Rng) -> usize {
    let d = &data[..size];
    let fields = match d.get(..4) {
        Some([0x7f, b'E', b'L', b'F']) => elf_fields(d, rng),
        Some([0xcf, 0xfa, 0xed, 0xfe]) => macho_fields(d, 0, rng),
        Some([0xca, 0xfe, 0xba, 0xbe]) => {
            // The first slice's fields, and the fat header's own.
            let mut f: Vec<Field> = vec![(4, 4)];
            let n = get(d, 4, 4).map(|v| (v as u32).swap_bytes()).unwrap_or(0).min(4) as usize;
            for k in 0..n {
                f.extend([(8 + 20 * k + 8, 4), (8 + 20 * k + 12, 4)]);
            }
            if let Some(off) = get(d, 16, 4).map(|v| (v as u32).swap_bytes() as usize) {
                f.extend(macho_fields(d, off, rng));
            }
            f
        }
        _ => Vec::new(),
    };
    let fields: Vec<Field> =
        fields.into_iter().filter(|&(o, w)| o.checked_add(w).is_some_and(|e| e <= size)).collect();
    if fields.is_empty() {
        return size;
    }
    let (off, w) = fields[rng.below(fields.len())];
    let old = get(&data[..size], off, w).unwrap_or(0);
    let mask = if w == 8 { u64::MAX } else { (1u64 << (8 * w)) - 1 };
    let other = {
        let (o2, w2) = fields[rng.below(fields.len())];
        get(&data[..size], o2, w2).unwrap_or(0)
    };
    let v = match rng.below(10) {
        0 => 0,
        1 => mask,
        2 => old.wrapping_add(1 + rng.below(16) as u64),
        3 => old.wrapping_sub(1 + rng.below(16) as u64),
        4 => old.wrapping_add(0x1000),
        5 => old.wrapping_sub(0x1000),
        6 => other,
        7 => size as u64,
        8 => old ^ (1u64 << rng.below(8 * w)),
        _ => old.wrapping_add(other),
    } & mask;
    put(&mut data[..size], off, w, v);
    size
}

/// libFuzzer's mutator or [`structured`], half and half.
pub fn mutate(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    let mut rng = Rng::new(seed);
    if rng.below(2) == 0 {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let n = 1 + rng.below(3);
    let mut size = size;
    for _ in 0..n {
        size = structured(data, size, &mut rng);
    }
    size
}
