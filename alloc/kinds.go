package alloc

import "github.com/vkassets/vkassets/alloc/virtual"

// Kind says what memory will be bound to, for bufferImageGranularity; see
// virtual.Kind.
type Kind = virtual.Kind

// Kinds.
const (
	KindAny     = virtual.KindAny
	KindLinear  = virtual.KindLinear
	KindOptimal = virtual.KindOptimal
)

// Algorithm is a block's sub-allocation algorithm; see virtual.Algorithm.
type Algorithm = virtual.Algorithm

// Algorithms.
const (
	AlgorithmTLSF   = virtual.AlgorithmTLSF
	AlgorithmLinear = virtual.AlgorithmLinear
)

// The core's errors, returned (wrapped) by the allocator too.
var (
	ErrZeroSize         = virtual.ErrZeroSize
	ErrBadAlignment     = virtual.ErrBadAlignment
	ErrNoSpace          = virtual.ErrNoSpace
	ErrInvalidFree      = virtual.ErrInvalidFree
	ErrForeignFree      = virtual.ErrForeignFree
	ErrUnknownAlgorithm = virtual.ErrUnknownAlgorithm
)

func alignUp64(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }
