package virtual

// Cuts is how many of the block's searches passed over maxMisses
// candidates and jumped (tlsf.cuts): where the search may part from an
// exact best fit.
func Cuts(b *Block) uint64 { return b.tlsf.cuts }

// SplitPad is the least trailing padding the TLSF files as a free range.
const SplitPad = splitPad
