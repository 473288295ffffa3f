package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPendingBound drives the bound check with a model of a retirer: each
// frame defers k objects and, once BeginFrame has waited for the frame
// N back, everything deferred up to then is gone. An exact retirer never
// breaks the bound; one that retires a frame late breaks it at once.
func TestPendingBound(t *testing.T) {
	for _, inFlight := range []int{1, 2, 3} {
		for _, late := range []int{0, 1} {
			b := pendingBound{inFlight: inFlight}
			var total uint64
			var atBegin []uint64 // deferred total right after each BeginFrame
			var broken error
			for frame := range 50 {
				// BeginFrame(frame) waited for frame-inFlight: what was deferred
				// before BeginFrame(frame-inFlight) returned is retired, unless
				// the retirer is late.
				var retiredUpTo uint64
				if j := frame - inFlight - late; j >= 0 {
					retiredUpTo = atBegin[j]
				}
				atBegin = append(atBegin, total)
				b.begun(total)
				total += uint64(1 + frame%3) // deferred while the frame is recorded and collected
				pending := int(total - retiredUpTo)
				if _, err := b.check(pending, total); err != nil && broken == nil {
					broken = err
				}
			}
			if late == 0 {
				require.NoError(t, broken, "%d in flight, exact retirement", inFlight)
			} else {
				require.Error(t, broken, "%d in flight, retirement a frame late", inFlight)
			}
		}
	}
}
