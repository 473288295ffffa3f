package virtual

// Cuts is how many of the block's searches passed over maxMisses
// candidates and jumped (tlsf.cuts): where the search may part from an
// exact best fit.
func Cuts(b *Block) uint64 { return b.tlsf.cuts }
