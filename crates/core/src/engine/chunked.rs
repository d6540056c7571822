//! A vector shared between snapshots in chunks: the next snapshot clones
//! the list of chunks (a few dozen pointers) and copies only the chunks a
//! write changes, so a write to one school copies one chunk rather than
//! every school's record.

use std::sync::Arc;

/// Elements per chunk: a chunk of profiles is about 17 KB, copied in a
/// microsecond or two, and a re-cut family group that changes a few
/// hundred schools copies as many chunks at most; 30,000 schools are 235
/// chunks, whose pointers each snapshot copies.
const CHUNK: usize = 128;

#[derive(Debug, Clone)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        (index < self.len).then(|| &self.chunks[index / CHUNK][index % CHUNK])
    }

    /// Replaces element `index` (which must exist), copying its chunk if
    /// another snapshot shares it.
    pub(crate) fn set(&mut self, index: usize, value: T) {
        assert!(index < self.len, "index {index} out of {}", self.len);
        Arc::make_mut(&mut self.chunks[index / CHUNK])[index % CHUNK] = value;
    }

    /// Appends `value`, copying the last chunk if another snapshot shares
    /// it.
    pub(crate) fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Arc::make_mut(last).push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(Arc::new(chunk));
            }
        }
        self.len += 1;
    }

    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            chunks: self.chunks.iter(),
            current: [].iter(),
            left: self.len,
        }
    }
}

impl<T: Clone> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut chunks = Vec::new();
        let mut len = 0;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<T> = items.by_ref().take(CHUNK).collect();
            len += chunk.len();
            chunks.push(Arc::new(chunk));
        }
        Chunked { chunks, len }
    }
}

impl<T: Clone> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        self.get(index)
            .unwrap_or_else(|| panic!("index {index} out of {}", self.len))
    }
}

/// [`Chunked::iter`]: the elements in order, chunk after chunk.
#[derive(Debug, Clone)]
pub(crate) struct Iter<'a, T> {
    chunks: std::slice::Iter<'a, Arc<Vec<T>>>,
    current: std::slice::Iter<'a, T>,
    left: usize,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(next) = self.current.next() {
                self.left -= 1;
                return Some(next);
            }
            self.current = self.chunks.next()?.iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_copies_only_its_chunk() {
        let len = 3 * CHUNK - 5;
        let first: Chunked<u32> = (0..len as u32).collect();
        let mut second = first.clone();
        let at = CHUNK + CHUNK / 2;
        second.set(at, 7);
        assert_eq!(first[at], at as u32);
        assert_eq!(second[at], 7);
        assert_eq!(second.len(), len);
        assert!(Arc::ptr_eq(&first.chunks[0], &second.chunks[0]));
        assert!(!Arc::ptr_eq(&first.chunks[1], &second.chunks[1]));
        assert!(Arc::ptr_eq(&first.chunks[2], &second.chunks[2]));
        assert_eq!(second.iter().len(), len);
        assert_eq!(second.iter().filter(|&&v| v == 7).count(), 2);
        assert_eq!(second.get(len), None);
        assert_eq!(Chunked::<u32>::default().len(), 0);
        let mut third = second.clone();
        for value in 0..CHUNK as u32 {
            third.push(value);
        }
        assert_eq!(third.len(), len + CHUNK);
        assert_eq!(third[len], 0);
        assert_eq!(third[len + CHUNK - 1], CHUNK as u32 - 1);
        assert_eq!(second.len(), len, "the snapshot before keeps its length");
        assert_eq!(third.iter().len(), len + CHUNK);
        assert!(Arc::ptr_eq(&second.chunks[0], &third.chunks[0]));
    }
}
