/* A minimal stand-in for an Arduino core's Arduino.h, written for tests/emit/test_packaging.py: only
 * what edgeconv's example sketches use (Serial.begin/print/println, `while (!Serial)`). With
 * EC_STUB_STDIO defined, Serial writes to stdout, so the sketch runs on the host and its output
 * can be compared with the validated host build; without it (cross compilers with no C++
 * library) the calls compile and do nothing. */
#ifndef EC_ARDUINO_STUB_H
#define EC_ARDUINO_STUB_H

#include <stdint.h>
#ifdef EC_STUB_STDIO
#include <stdio.h>
#endif

#define DEC 10

class EcStubSerial {
 public:
  void begin(unsigned long baud) { (void)baud; }
  explicit operator bool() const { return true; }
#ifdef EC_STUB_STDIO
  void print(const char *s) { fputs(s, stdout); }
  void print(char c) { putchar(c); }
  void print(long v, int base = DEC) { (void)base; printf("%ld", v); }
  void print(double v, int digits = 2) { printf("%.*f", digits, v); }
  void println() { putchar('\n'); }
  void println(long v, int base = DEC) { print(v, base); println(); }
#else
  void print(const char *s) { (void)s; }
  void print(char c) { (void)c; }
  void print(long v, int base = DEC) { (void)v; (void)base; }
  void print(double v, int digits = 2) { (void)v; (void)digits; }
  void println() {}
  void println(long v, int base = DEC) { (void)v; (void)base; }
#endif
};

extern EcStubSerial Serial;

void setup(void);
void loop(void);

#endif
