//go:build !race

package rtpmedia

// raceEnabled: the race detector is on (sync.Pool then drops items at random,
// so pooled buffers get allocated again).
const raceEnabled = false
