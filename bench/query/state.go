package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The loaded state of a kept run: what -reuse needs to time the same
// questions again on the same engine data without loading it (10M spans
// take an hour to load, their timings ten minutes). The data's times are
// relative to the load's "now", and the questions draw their traces and
// users from the loader's sample of what it wrote, so both are kept.
const stateFile = "state.json"

type savedState struct {
	Now     time.Time     `json:"now"`
	Spans   int           `json:"spans"`
	Logs    int           `json:"logs"`
	Jaeger  bool          `json:"jaeger"`
	Samples []savedSample `json:"samples"`
}

type savedSample struct {
	TraceID   string `json:"traceId"`
	RootID    string `json:"rootId"`
	RootStart int64  `json:"rootStart"`
	User      string `json:"user"`
}

// saveState writes the state after a size is loaded (each size replaces
// the last: the data folder holds every size loaded so far).
func saveState(dir string, now time.Time, spans, logs int, jaeger bool, samples []sample) error {
	st := savedState{Now: now, Spans: spans, Logs: logs, Jaeger: jaeger}
	for _, s := range samples {
		st.Samples = append(st.Samples, savedSample{TraceID: hex.EncodeToString(s.traceID[:]),
			RootID: hex.EncodeToString(s.rootID[:]), RootStart: s.rootStart, User: s.user})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateFile), b, 0o644)
}

// loadState reads a kept run's state.
func loadState(dir string) (savedState, []sample, error) {
	var st savedState
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, nil, fmt.Errorf("%s is not a kept run of this bench (-keep writes %s once a size is loaded): %w", dir, stateFile, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	samples := make([]sample, 0, len(st.Samples))
	for _, s := range st.Samples {
		var out sample
		tid, err1 := hex.DecodeString(s.TraceID)
		sid, err2 := hex.DecodeString(s.RootID)
		if err1 != nil || err2 != nil || len(tid) != len(out.traceID) || len(sid) != len(out.rootID) {
			return st, nil, fmt.Errorf("%s: bad sample %+v", stateFile, s)
		}
		copy(out.traceID[:], tid)
		copy(out.rootID[:], sid)
		out.rootStart, out.user = s.RootStart, s.User
		samples = append(samples, out)
	}
	if len(samples) == 0 {
		return st, nil, fmt.Errorf("%s holds no samples", stateFile)
	}
	return st, samples, nil
}
