//! How many tiles a client that holds only the log's URL and its key fetches to prove that
//! one entry is in the log: the hash tiles `tlog_tiles`' `TileHashReader` needs for the
//! inclusion proof and to authenticate them against the signed checkpoint, plus the entries
//! tile that holds the entry. Prints the largest count over the indexes given, then the
//! tree's size. `scripts/bench/log.sh` runs it.
//!
//!     tiles_per_proof LOG_URL VKEY INDEX...

use std::sync::atomic::{AtomicUsize, Ordering};

use ssa_verifier::transparency::{LogKey, leaf_hash, open_checkpoint, split_bundle, tile_path};
use ssa_verifier::{HttpClient, Settings};
use tlog_tiles::{Tile, TileHashReader, TileReader};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// Hash tiles over HTTP, counting each fetched.
struct Counting<'a> {
    http: &'a HttpClient,
    log: &'a str,
    fetched: AtomicUsize,
}

impl TileReader for Counting<'_> {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        self.fetched.fetch_add(tiles.len(), Ordering::Relaxed);
        tiles
            .iter()
            .map(|tile| {
                let url = format!("{}/{}", self.log, tile_path(tile));
                self.http
                    .get(&url)
                    .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, log, vkey, indexes @ ..] = &args[..] else {
        return Err("usage: tiles_per_proof LOG_URL VKEY INDEX...".into());
    };
    let http = HttpClient::new(&Settings::default())?;
    let key = LogKey::parse(vkey)?;
    let checkpoint = open_checkpoint(&http.get(&format!("{log}/checkpoint"))?, &key, &[], 0)?;
    let mut most = 0;
    for index in indexes {
        let index: u64 = index.parse()?;
        // A fresh client for each entry: nothing cached from the one before.
        let tiles = Counting {
            http: &http,
            log,
            fetched: AtomicUsize::new(0),
        };
        let reader = TileHashReader::new(checkpoint.size, checkpoint.root, &tiles);
        let proof = tlog_tiles::prove_record(checkpoint.size, index, &reader)?;
        let bundle_index = index >> 8;
        let width = (checkpoint.size - (bundle_index << 8)).min(256) as u32;
        let tile = Tile::new(8, 0, bundle_index, width, true);
        let bundle = http.get(&format!("{log}/{}", tile_path(&tile)))?;
        let entries = split_bundle(&bundle)?;
        let entry = entries[(index - (bundle_index << 8)) as usize];
        tlog_tiles::check_record(
            &proof,
            checkpoint.size,
            checkpoint.root,
            index,
            leaf_hash(entry),
        )?;
        let fetched = tiles.fetched.load(Ordering::Relaxed) + 1;
        most = most.max(fetched);
    }
    println!("{most} {}", checkpoint.size);
    Ok(())
}
