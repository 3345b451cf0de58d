//! What library matching needs from an ELF file, read with goblin for any class,
//! endianness and machine: its version definitions (as `readelf -V` lists them,
//! without the base entry that names the file itself), its DT_NEEDED names and its
//! SONAME. A file that is not ELF has none of them.

use std::path::Path;

/// ELF files larger than this are not read (no shared library is near it).
const MAX_ELF: u64 = 1 << 30;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub shared: bool,
    pub version_definitions: Vec<String>,
    pub needed: Vec<String>,
    pub soname: Option<String>,
}

/// Reads `path`; `Ok(None)` when it is not an ELF file.
pub fn read(path: &Path) -> std::io::Result<Option<ElfInfo>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() || meta.len() > MAX_ELF || meta.len() < 16 {
        return Ok(None);
    }
    let mut head = [0u8; 4];
    {
        use std::io::Read;
        std::fs::File::open(path)?.read_exact(&mut head)?;
    }
    if head != *b"\x7fELF" {
        return Ok(None);
    }
    let bytes = std::fs::read(path)?;
    Ok(parse(&bytes))
}

/// `bytes` as an ELF file; `None` when they are not a well-formed one.
pub fn parse(bytes: &[u8]) -> Option<ElfInfo> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let mut version_definitions = Vec::new();
    if let Some(verdef) = &elf.verdef {
        // readelf prints the first definition (the base, the file's own name) at
        // offset 000000 and BundleGen's parser skips it; the others are versions.
        for def in verdef.iter().skip(1) {
            if let Some(aux) = def.iter().next() {
                if let Some(name) = elf.dynstrtab.get_at(aux.vda_name) {
                    version_definitions.push(name.to_string());
                }
            }
        }
    }
    Some(ElfInfo {
        shared: elf.header.e_type == goblin::elf::header::ET_DYN,
        version_definitions,
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        soname: elf.soname.map(String::from),
    })
}
