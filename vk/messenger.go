package vk

/*
#include <stdint.h>
*/
import "C"

import (
	"context"
	"log/slog"
	"maps"
	"runtime/cgo"
	"sync"
)

// Severity of a validation message.
type Severity int32

// Message severities, as VkDebugUtilsMessageSeverityFlagBitsEXT.
const (
	SeverityVerbose Severity = 0x1
	SeverityInfo    Severity = 0x10
	SeverityWarning Severity = 0x100
	SeverityError   Severity = 0x1000
)

func (s Severity) String() string {
	switch s {
	case SeverityVerbose:
		return "verbose"
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return "unknown"
}

// Message is one message from the validation layer.
type Message struct {
	Severity Severity
	ID       string // the VUID or other message ID name, e.g. "VUID-vkDestroyBuffer-buffer-00922"
	Text     string
}

// recentLimit bounds the error messages a Validator keeps for reports.
const recentLimit = 64

// Validator receives the validation layer's messages for one instance: it
// logs them to the instance's *slog.Logger and counts errors by message ID.
// It is safe for concurrent use; the layer may call it from any thread.
type Validator struct {
	logger *slog.Logger

	mu       sync.Mutex     // protects the fields below
	errors   map[string]int // error count by message ID
	total    int            // errors in all
	warnings int
	recent   []Message // the latest errors, at most recentLimit
}

func newValidator(logger *slog.Logger) *Validator {
	return &Validator{logger: logger, errors: make(map[string]int)}
}

// Errors is the number of validation errors reported so far.
func (v *Validator) Errors() int {
	if v == nil {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.total
}

// Warnings is the number of validation warnings reported so far.
func (v *Validator) Warnings() int {
	if v == nil {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.warnings
}

// ErrorCounts returns a copy of the error counts by message ID.
func (v *Validator) ErrorCounts() map[string]int {
	if v == nil {
		return map[string]int{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.errors)
}

// Recent returns the latest error messages, oldest first.
func (v *Validator) Recent() []Message {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Message(nil), v.recent...)
}

func (v *Validator) report(m Message) {
	level := slog.LevelInfo
	switch {
	case m.Severity >= SeverityError:
		level = slog.LevelError
	case m.Severity >= SeverityWarning:
		level = slog.LevelWarn
	}
	v.mu.Lock()
	switch level {
	case slog.LevelError:
		v.total++
		v.errors[m.ID]++
		if len(v.recent) == recentLimit {
			v.recent = append(v.recent[:0], v.recent[1:]...)
		}
		v.recent = append(v.recent, m)
	case slog.LevelWarn:
		v.warnings++
	}
	v.mu.Unlock()
	v.logger.Log(context.Background(), level, "vulkan validation", "id", m.ID, "message", m.Text)
}

//export vkaGoDebugMessage
func vkaGoDebugMessage(user C.uintptr_t, severity, types C.int32_t, id, msg *C.char) {
	v, ok := cgo.Handle(user).Value().(*Validator)
	if !ok {
		return
	}
	v.report(Message{Severity: Severity(severity), ID: C.GoString(id), Text: C.GoString(msg)})
}
