package vk_test

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// leakVUID is what the layer reports when a device is destroyed with
// objects alive: the tests below close devices under running work on
// purpose, and the objects that work made can no longer be destroyed.
const leakVUID = "VUID-vkDestroyDevice-device-00378"

// callAll calls every exported method of v with arbitrary non-zero
// arguments, and returns the error results by method name.
func callAll(t *testing.T, v any, skip ...string) map[string]error {
	t.Helper()
	errType := reflect.TypeFor[error]()
	out := map[string]error{}
	rv := reflect.ValueOf(v)
	for i := range rv.NumMethod() {
		m := rv.Type().Method(i)
		if slicesContains(skip, m.Name) {
			continue
		}
		ft := m.Type
		args := []reflect.Value{rv}
		for j := 1; j < ft.NumIn(); j++ {
			args = append(args, arbitrary(ft.In(j)))
		}
		res := m.Func.Call(args)
		if n := ft.NumOut(); n > 0 && ft.Out(n-1) == errType {
			err, _ := res[n-1].Interface().(error)
			out[m.Name] = err
		} else {
			out[m.Name] = nil
		}
	}
	return out
}

// arbitrary is a non-zero value of t where one is easy to make (so that no
// "0 is ignored" shortcut hides a call), else t's zero value.
func arbitrary(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(0xdead0)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		v.SetString("closed")
	case reflect.Slice:
		v.Set(reflect.MakeSlice(t, 1, 1))
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
	}
	return v
}

func slicesContains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// TestMethodsAfterClose calls every method of a closed Device and of its
// closed Instance: the ones with an error result return ErrClosed, the
// others do nothing, and none reaches the destroyed device (before the fix
// the first one was a use-after-free: SIGSEGV).
func TestMethodsAfterClose(t *testing.T) {
	d := vktest.Open(t)
	in := d.Instance()
	d.Close()
	d.Close() // idempotent
	require.True(t, d.Closed())

	// Methods that only report what Open found, or install a Go hook.
	accessors := []string{"Close", "Closed", "Instance", "Validator", "Physical", "QueueFamily",
		"TimelineSemaphores", "HasMemoryBudget", "SetFaultInjector", "MemoryBudget", "Handle", "QueueHandle"}
	errs := callAll(t, d, accessors...)
	require.Greater(t, len(errs), 40, "every C-calling method was called")
	for name, err := range errs {
		t.Run(name, func(t *testing.T) {
			m, _ := reflect.TypeOf(d).MethodByName(name)
			if ft := m.Type; ft.NumOut() > 0 && ft.Out(ft.NumOut()-1) == reflect.TypeFor[error]() {
				require.ErrorIs(t, err, vk.ErrClosed)
			}
		})
	}
	require.Nil(t, d.Handle())
	require.Nil(t, d.QueueHandle())
	require.Len(t, d.MemoryBudget(), len(d.Physical().Memory.Heaps), "the fallback figures")
	require.NotEmpty(t, d.Physical().Name)

	require.Nil(t, in.Handle())
	_, err := in.PhysicalDevices()
	require.ErrorIs(t, err, vk.ErrClosed)
	_, err = in.NewDevice(vk.Options{})
	require.ErrorIs(t, err, vk.ErrClosed)
	in.DestroySurface(0xdead0)
	in.Close()
}

// TestCloseWaitsForCallInFlight: a call that has passed the closed check
// when Close starts on another goroutine runs to its end on the live device,
// and Close returns only after it; calls that come after Close started are
// refused at once. The fault injector (consulted inside the call, after the
// check) holds the call in flight for as long as the test wants.
func TestCloseWaitsForCallInFlight(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{Expect: []string{leakVUID}}) // the fence outlives the device
	f, err := d.CreateFence(true)
	require.NoError(t, err)

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.SetFaultInjector(func(op string) vk.Result {
		if op == "vkWaitForFences" {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
		return vk.Success
	})
	waitDone := make(chan error)
	go func() {
		waitDone <- d.WaitFence(f, 10*time.Second)
	}()
	<-entered

	closeDone := make(chan struct{})
	go func() {
		d.Close()
		close(closeDone)
	}()
	require.Eventually(t, d.Closed, 5*time.Second, time.Millisecond, "Close has begun")
	// A new call is refused at once, while Close waits for the one in flight.
	_, err = d.FenceSignaled(f)
	require.ErrorIs(t, err, vk.ErrClosed)
	select {
	case <-closeDone:
		t.Fatal("Close returned while a call was in flight: it may have destroyed the device under it")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-waitDone, "the call in flight ran on the live device")
	select {
	case <-closeDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the call in flight ended")
	}
}

// TestCloseUnderLoad closes a device from several goroutines at once while
// others run the per-frame calls and record commands: nothing crashes,
// every error is ErrClosed, and every worker stops.
func TestCloseUnderLoad(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{Expect: []string{leakVUID}})
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	started := make(chan struct{}, workers)
	var frames atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- closeLoadWorker(d, started, &frames)
		}()
	}
	for range workers {
		<-started
	}
	// Close once the workers are under way: a frame or more each on
	// average, however busy the CPUs (a fixed sleep was not, on 2 cores).
	for deadline := time.Now().Add(time.Minute); frames.Load() < workers; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the workers made %d frames in a minute", frames.Load())
		}
	}
	var closers sync.WaitGroup
	for range 3 {
		closers.Add(1)
		go func() {
			defer closers.Done()
			d.Close()
		}()
	}
	closers.Wait()
	atClose := frames.Load()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.ErrorIs(t, err, vk.ErrClosed)
	}
	t.Logf("%d frames before Close returned, %d in all", atClose, frames.Load())
	require.Positive(t, atClose, "the workers were running when the device closed")
}

// closeLoadWorker runs frames until a call fails, and returns that error.
// Its objects are left to the device's Close (the expected leak report).
func closeLoadWorker(d *vk.Device, started chan<- struct{}, frames *atomic.Int64) error {
	pool, err := d.CreateCommandPool(vk.CommandPoolResetCommandBuffer)
	if err != nil {
		return err
	}
	cmd, err := d.AllocateCommandBuffer(pool)
	if err != nil {
		return err
	}
	fence, err := d.CreateFence(false)
	if err != nil {
		return err
	}
	b, err := d.CreateBuffer(4096, vk.BufferUsageTransferDst)
	if err != nil {
		return err
	}
	req := d.BufferRequirements(b)
	m, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: firstType(d, req.TypeBits)})
	if err != nil {
		return err
	}
	if err := d.BindBufferMemory(b, m, 0); err != nil {
		return err
	}
	started <- struct{}{}
	cmds := []vk.CommandBuffer{cmd}
	for i := 0; ; i++ {
		if err := d.BeginCommandBuffer(cmd); err != nil {
			return err
		}
		for range 64 {
			d.CmdFillBuffer(cmd, b, 0, 4096, uint32(i))
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
				SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferWrite})
		}
		if err := d.EndCommandBuffer(cmd); err != nil {
			return err
		}
		if err := d.Submit(cmds, nil, nil, fence); err != nil {
			return err
		}
		if err := d.WaitFence(fence, 10*time.Second); err != nil {
			return err
		}
		if err := d.ResetFence(fence); err != nil {
			return err
		}
		tmp, err := d.CreateBuffer(256, vk.BufferUsageVertex)
		if err != nil {
			return err
		}
		d.DestroyBuffer(tmp)
		frames.Add(1)
		if i > 1_000_000 {
			return errors.New("the device was never closed")
		}
	}
}

func firstType(d *vk.Device, bits uint32) uint32 {
	for i := range d.Physical().Memory.Types {
		if bits&(1<<i) != 0 {
			return uint32(i)
		}
	}
	return 0
}

// TestInstanceCloseFirst: closing the instance before the device made on it
// closes the device first, so neither order crashes.
func TestInstanceCloseFirst(t *testing.T) {
	in, err := vk.NewInstance(vk.InstanceOptions{AppName: t.Name(), Validation: true, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	d, err := in.NewDevice(vk.Options{})
	require.NoError(t, err)
	b, err := d.CreateBuffer(64, vk.BufferUsageVertex)
	require.NoError(t, err)
	d.DestroyBuffer(b)
	in.Close()
	require.True(t, d.Closed(), "the instance closed its device")
	_, err = d.CreateBuffer(64, vk.BufferUsageVertex)
	require.ErrorIs(t, err, vk.ErrClosed)
	d.Close()
	vktest.Check(t, in.Validator())
}
