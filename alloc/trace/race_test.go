//go:build race

package trace

// raceEnabled: the race detector slows the exhaustive best fit tenfold, so
// the refusal comparison replays shorter traces under it.
const raceEnabled = true
