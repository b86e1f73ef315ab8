// Test-only replacement for the AVR core's main.cpp (tests/test_packaging.py): the core's init(),
// the sketch's setup() once, then sleep with interrupts off, which ends a simavr run (the
// core's main would call loop() forever).
#include <Arduino.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>

int main(void) {
  init();
  setup();
  Serial.flush();  // every byte out of the UART
  set_sleep_mode(SLEEP_MODE_PWR_DOWN);
  cli();
  sleep_enable();
  sleep_cpu();
  return 0;
}
