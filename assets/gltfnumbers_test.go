package assets

import "testing"

func TestIntegralNumbers(t *testing.T) {
	for in, want := range map[string]string{
		`{"count":4.0,"s":[1.5,2.00,1e2,-0.0,3E0,1e400,9007199254740993.0]}`: `{"count":4,"s":[1.5,2,100,0,3,1e400,9007199254740993.0]}`,
		`{"name":"4.0 \"2.0\" \\","v":7.000}`:                                `{"name":"4.0 \"2.0\" \\","v":7}`,
		`[1,2,-3]`:                                                           `[1,2,-3]`,
	} {
		if got := string(integralNumbers([]byte(in))); got != want {
			t.Errorf("integralNumbers(%s) = %s, want %s", in, got, want)
		}
	}
	plain := []byte(`{"count":4}`)
	if got := integralNumbers(plain); &got[0] != &plain[0] {
		t.Error("a document with nothing to rewrite was copied")
	}
}
