package yna

import (
	"errors"
	"testing"
)

func TestNormalizeLine(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"4251234567", "14251234567", true},
		{"14251234567", "14251234567", true},
		{"+14251234567", "14251234567", true},
		{"+1 (425) 123-4567", "14251234567", true},
		{"425.123.4567", "14251234567", true},
		{"tel:+14251234567", "14251234567", true},
		{"sip:+14251234567@ims.example;user=phone", "14251234567", true},
		{"  14251234567 ", "14251234567", true},
		{"1425123456", "", false},           // too short
		{"24251234567", "", false},          // 11 digits not starting with 1
		{"0251234567", "", false},           // area code starts with 0
		{"4250234567", "14250234567", true}, // exchange digit not checked (spec example 4251234567)
		{"+442079460958", "", false},        // not NANP
		{"+4251234567", "", false},          // + with 10 digits is not NANP
		{"425123456x", "", false},           // letters
		{"", "", false},
		{"anonymous", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeLine(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("NormalizeLine(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			var ne *NumberError
			if !errors.As(err, &ne) {
				t.Fatalf("NormalizeLine(%q) = %q, %v; want *NumberError", tc.in, got, err)
			}
		})
	}
}

func TestNormalizeDestination(t *testing.T) {
	tests := []struct {
		in, want  string
		emergency bool
		bad       bool
	}{
		{in: "4251234567", want: "14251234567"},
		{in: "14251234567", want: "14251234567"},
		{in: "+1 425 123 4567", want: "14251234567"},
		{in: "(425) 123-4567", want: "14251234567"},
		{in: "1-800-FLOWERS", want: "18003569377"},
		{in: "1-800-flowers", want: "18003569377"},
		{in: "tel:+14251234567", want: "14251234567"},
		{in: "+44 20 7946 0958", want: "+442079460958"},
		{in: "011 44 20 7946 0958", want: "+442079460958"},
		{in: "442079460958", want: "+442079460958"},
		{in: "+3225123456", want: "3225123456"}, // 10 digits with +: not NANP, not 11–15 → digits
		{in: "+861012345678901", want: "+861012345678901"},
		{in: "611", want: "611"},
		{in: "*86", want: "86"},
		{in: "0251234567", want: "0251234567"},
		{in: "1234567890123456", want: "1234567890123456"}, // 16 digits → other
		{in: "123456789012345678901", bad: true},           // 21 digits
		{in: "", bad: true},
		{in: "---", bad: true},
		{in: "911", emergency: true},
		{in: "9-1-1", emergency: true},
		{in: "tel:911", emergency: true},
		{in: "112", emergency: true},
		{in: "+112", emergency: true},
		{in: "1911", emergency: true},
		{in: "00112", emergency: true},
		{in: "0911", emergency: true},
		{in: "922", emergency: true},
		{in: "+1 911", emergency: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeDestination(tc.in)
			switch {
			case tc.emergency:
				if !errors.Is(err, ErrEmergencyNumber) {
					t.Fatalf("NormalizeDestination(%q) = %q, %v; want ErrEmergencyNumber", tc.in, got, err)
				}
				var ne *NumberError
				if !errors.As(err, &ne) || ne.Input != tc.in {
					t.Fatalf("want *NumberError with input, got %#v", err)
				}
			case tc.bad:
				var ne *NumberError
				if !errors.As(err, &ne) || errors.Is(err, ErrEmergencyNumber) {
					t.Fatalf("NormalizeDestination(%q) = %q, %v; want plain *NumberError", tc.in, got, err)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("NormalizeDestination(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
			}
		})
	}
}

func TestIsEmergency(t *testing.T) {
	for _, n := range []string{"911", "912", "922", "112", "1911", "1912", "1112", "+911", "+912", "+112",
		"+1911", "+1912", "+1112", "0911", "0912", "0112", "00911", "00912", "00112", " 911 "} {
		if !IsEmergency(n) {
			t.Errorf("IsEmergency(%q) = false", n)
		}
	}
	for _, n := range []string{"", "411", "611", "9111", "14251234567", "+911123456789", "+44 112 345"} {
		if IsEmergency(n) {
			t.Errorf("IsEmergency(%q) = true", n)
		}
	}
}

func FuzzNormalizeDestination(f *testing.F) {
	for _, s := range []string{"4251234567", "+44 20 7946 0958", "1-800-FLOWERS", "911", "sip:1@x;a", "tel:", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeDestination(s)
		if err != nil {
			return
		}
		if out == "" || len(out) > 21 || IsEmergency(out) {
			t.Fatalf("NormalizeDestination(%q) = %q", s, out)
		}
		if _, err := NormalizeLine(s); err == nil && len(out) != 11 {
			t.Fatalf("line %q normalises to destination %q", s, out)
		}
	})
}
