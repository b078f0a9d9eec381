//! The region model of one guest address space: which page ranges are mapped, with which
//! protection and backing. It is pure bookkeeping (no host memory is touched here), so the
//! splitting, merging and placement rules are unit-tested without a reservation.
//!
//! Invariant: regions are page-aligned, non-empty, non-overlapping and keyed by their start.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{Prot, PAGE_SIZE};

/// What a region's pages come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionBacking {
    /// Zero-filled memory private to this process (copy-on-write across fork).
    AnonPrivate,
    /// Zero-filled memory shared with forked children.
    AnonShared,
    /// A file mapping; `offset` is the file offset of the region's first byte.
    File {
        /// Whether writes reach the file and other mappings of it (MAP_SHARED).
        shared: bool,
        /// File offset of the region's first byte.
        offset: u64,
        /// Host device number of the file, shown in /proc/self/maps.
        dev: u64,
        /// Host inode number of the file, shown in /proc/self/maps.
        inode: u64,
        /// Whether the file was opened for writing, so a shared mapping may become writable.
        writable_file: bool,
    },
}

/// The name /proc/self/maps shows for a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionName {
    /// No name (plain anonymous memory).
    None,
    /// The program break area.
    Heap,
    /// The main thread's stack.
    Stack,
    /// The vDSO's data pages (`[vvar]`).
    Vvar,
    /// The vDSO image (`[vdso]`).
    Vdso,
    /// A guest path, as the guest named the file.
    Path(Vec<u8>),
}

/// One mapped range of guest pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// First guest address (page-aligned).
    pub start: u64,
    /// One past the last guest address (page-aligned).
    pub end: u64,
    /// Guest protection.
    pub prot: Prot,
    /// Where the pages come from.
    pub backing: RegionBacking,
    /// The name shown in /proc/self/maps.
    pub name: RegionName,
    /// MAP_GROWSDOWN: the region is a stack that the guest expects to grow downwards.
    pub grows_down: bool,
}

impl Region {
    /// Returns the file offset of guest address `addr` inside this region, or 0 if anonymous.
    pub fn offset_at(&self, addr: u64) -> u64 {
        match self.backing {
            RegionBacking::File { offset, .. } => offset + (addr - self.start),
            _ => 0,
        }
    }

    /// Returns the part of this region inside `[start, end)`, with the file offset adjusted.
    fn slice(&self, start: u64, end: u64) -> Region {
        let mut piece = self.clone();
        piece.start = start.max(self.start);
        piece.end = end.min(self.end);
        if let RegionBacking::File { offset, .. } = &mut piece.backing {
            *offset += piece.start - self.start;
        }
        piece
    }

    /// Reports whether `next` starts where this region ends and could be one region with it.
    fn can_merge_with(&self, next: &Region) -> bool {
        if self.end != next.start
            || self.prot != next.prot
            || self.name != next.name
            || self.grows_down != next.grows_down
        {
            return false;
        }
        match (&self.backing, &next.backing) {
            (RegionBacking::AnonPrivate, RegionBacking::AnonPrivate) => true,
            (
                RegionBacking::File {
                    shared: s1,
                    offset: o1,
                    dev: d1,
                    inode: i1,
                    ..
                },
                RegionBacking::File {
                    shared: s2,
                    offset: o2,
                    dev: d2,
                    inode: i2,
                    ..
                },
            ) => s1 == s2 && d1 == d2 && i1 == i2 && o1 + (self.end - self.start) == *o2,
            // Shared anonymous regions are separate host objects: never merge them.
            _ => false,
        }
    }
}

/// The set of mapped regions of one address space.
#[derive(Default, Debug)]
pub struct RegionMap {
    regions: BTreeMap<u64, Region>,
}

impl RegionMap {
    /// Returns the region containing `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<&Region> {
        let (_, region) = self.regions.range(..=addr).next_back()?;
        (addr < region.end).then_some(region)
    }

    /// Iterates over all regions in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    /// Iterates over the regions that overlap `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Region> {
        let first = self.find(start).map_or(start, |region| region.start);
        self.regions
            .range((Bound::Included(first), Bound::Excluded(end)))
            .map(|(_, region)| region)
            .filter(move |region| region.end > start)
    }

    /// Reports whether no region overlaps `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_none()
    }

    /// Reports whether every page of `[start, end)` is mapped.
    pub fn is_covered(&self, start: u64, end: u64) -> bool {
        let mut cursor = start;
        for region in self.overlapping(start, end) {
            if region.start > cursor {
                return false;
            }
            cursor = region.end;
        }
        cursor >= end
    }

    /// Inserts `region`, which must not overlap any existing region, merging it with equal
    /// neighbours so /proc/self/maps shows one line per run like Linux does.
    pub fn insert(&mut self, region: Region) {
        debug_assert!(self.is_free(region.start, region.end));
        let mut region = region;

        if let Some(prev) = self.find(region.start.wrapping_sub(1)).cloned() {
            if prev.can_merge_with(&region) {
                self.regions.remove(&prev.start);
                region.backing = prev.backing.clone();
                region.start = prev.start;
            }
        }
        if let Some(next) = self.regions.get(&region.end).cloned() {
            if region.can_merge_with(&next) {
                self.regions.remove(&next.start);
                region.end = next.end;
            }
        }
        self.regions.insert(region.start, region);
    }

    /// Removes `[start, end)` from the map, splitting regions that straddle its edges, and
    /// returns the removed pieces in address order.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<Region> {
        let hit: Vec<Region> = self.overlapping(start, end).cloned().collect();
        let mut removed = Vec::with_capacity(hit.len());
        for region in hit {
            self.regions.remove(&region.start);
            if region.start < start {
                let head = region.slice(region.start, start);
                self.regions.insert(head.start, head);
            }
            if region.end > end {
                let tail = region.slice(end, region.end);
                self.regions.insert(tail.start, tail);
            }
            removed.push(region.slice(start, end));
        }
        removed
    }

    /// Changes the protection of every mapped page in `[start, end)`, splitting regions at
    /// the edges and merging equal neighbours afterwards.
    pub fn protect(&mut self, start: u64, end: u64, prot: Prot) {
        for mut piece in self.remove(start, end) {
            piece.prot = prot;
            self.insert(piece);
        }
    }

    /// Finds the highest free, page-aligned range of `len` bytes inside `[low, high)`.
    pub fn find_free_top_down(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut ceiling = high;
        let below = self.regions.range(..high).rev();
        for (_, region) in below {
            if region.end < ceiling {
                if let Some(start) = ceiling.checked_sub(len) {
                    if start >= region.end && start >= low {
                        return Some(start);
                    }
                }
            }
            ceiling = ceiling.min(region.start);
            if ceiling < low {
                return None;
            }
        }
        let start = ceiling.checked_sub(len)?;
        (start >= low).then_some(start)
    }
}

/// Rounds `value` up to the next page boundary, or returns `None` on overflow.
pub fn page_align_up(value: u64) -> Option<u64> {
    value
        .checked_add(PAGE_SIZE - 1)
        .map(|v| v & !(PAGE_SIZE - 1))
}

/// Rounds `value` down to a page boundary.
pub fn page_align_down(value: u64) -> u64 {
    value & !(PAGE_SIZE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64, prot: Prot) -> Region {
        Region {
            start,
            end,
            prot,
            backing: RegionBacking::AnonPrivate,
            name: RegionName::None,
            grows_down: false,
        }
    }

    fn file(start: u64, end: u64, offset: u64) -> Region {
        Region {
            start,
            end,
            prot: Prot::READ,
            backing: RegionBacking::File {
                shared: false,
                offset,
                dev: 1,
                inode: 2,
                writable_file: false,
            },
            name: RegionName::Path(b"/f".to_vec()),
            grows_down: false,
        }
    }

    #[test]
    fn insert_merges_equal_neighbours() {
        let mut map = RegionMap::default();
        map.insert(anon(0x10000, 0x20000, Prot::RW));
        map.insert(anon(0x20000, 0x30000, Prot::RW));
        map.insert(anon(0x30000, 0x40000, Prot::READ));
        let regions: Vec<_> = map.iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(regions, vec![(0x10000, 0x30000), (0x30000, 0x40000)]);
    }

    #[test]
    fn remove_splits_middle() {
        let mut map = RegionMap::default();
        map.insert(file(0x10000, 0x20000, 0x1000));
        let removed = map.remove(0x12000, 0x13000);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].offset_at(0x12000), 0x3000);
        let regions: Vec<_> = map
            .iter()
            .map(|r| (r.start, r.end, r.offset_at(r.start)))
            .collect();
        assert_eq!(
            regions,
            vec![(0x10000, 0x12000, 0x1000), (0x13000, 0x20000, 0x4000)]
        );
    }

    #[test]
    fn protect_splits_and_remerges() {
        let mut map = RegionMap::default();
        map.insert(anon(0x10000, 0x20000, Prot::RW));
        map.protect(0x14000, 0x15000, Prot::READ);
        assert_eq!(map.iter().count(), 3);
        assert_eq!(map.find(0x14000).map(|r| r.prot), Some(Prot::READ));
        assert_eq!(map.find(0x15000).map(|r| r.prot), Some(Prot::RW));
        map.protect(0x14000, 0x15000, Prot::RW);
        assert_eq!(map.iter().count(), 1);
    }

    #[test]
    fn file_pieces_merge_only_when_contiguous() {
        let mut map = RegionMap::default();
        map.insert(file(0x10000, 0x11000, 0));
        map.insert(file(0x11000, 0x12000, 0x5000));
        assert_eq!(map.iter().count(), 2);
        map.insert(file(0x12000, 0x13000, 0x6000));
        assert_eq!(map.iter().count(), 2);
    }

    #[test]
    fn coverage_and_freedom() {
        let mut map = RegionMap::default();
        map.insert(anon(0x10000, 0x20000, Prot::RW));
        map.insert(anon(0x30000, 0x40000, Prot::READ));
        assert!(map.is_covered(0x10000, 0x20000));
        assert!(!map.is_covered(0x10000, 0x30001));
        assert!(map.is_free(0x20000, 0x30000));
        assert!(!map.is_free(0x1f000, 0x30000));
        assert!(map.find(0x20000).is_none());
        assert_eq!(map.overlapping(0x18000, 0x38000).count(), 2);
    }

    #[test]
    fn top_down_search_skips_holes_too_small() {
        let mut map = RegionMap::default();
        map.insert(anon(0x70000, 0x80000, Prot::RW));
        map.insert(anon(0x50000, 0x6f000, Prot::RW));
        assert_eq!(
            map.find_free_top_down(0x1000, 0x10000, 0x80000),
            Some(0x6f000)
        );
        assert_eq!(
            map.find_free_top_down(0x2000, 0x10000, 0x80000),
            Some(0x4e000)
        );
        assert_eq!(map.find_free_top_down(0x50000, 0x10000, 0x80000), None);
        assert_eq!(
            map.find_free_top_down(0x1000, 0x10000, 0x90000),
            Some(0x8f000)
        );
    }
}
