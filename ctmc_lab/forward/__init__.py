"""The forward process: token generators Q, noise schedules σ̄(t), kernels exp(σ̄ Q) and p_t."""
