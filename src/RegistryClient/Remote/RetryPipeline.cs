using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace RegistryClient.Remote;

/// <summary>Builds the one Polly retry pipeline a <see cref="RemoteRegistry"/> uses for every request.</summary>
internal static partial class RetryPipeline
{
    public static ResiliencePipeline Build(RegistryOptions options, ILogger logger, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        if (options.MaxRetries == 0)
        {
            return builder.Build();
        }

        builder.AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = options.MaxRetries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.RetryDelay,
            MaxDelay = options.MaxRetryDelay,
            ShouldHandle = args => ValueTask.FromResult(TransientFaults.IsTransient(args.Outcome.Exception)),
            DelayGenerator = args => ValueTask.FromResult(
                args.Outcome.Exception is RegistryResponseException { RetryAfter: { } retryAfter } ? retryAfter : (TimeSpan?)null),
            OnRetry = args =>
            {
                LogRetry(logger, args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds, args.Outcome.Exception?.Message);
                return default;
            },
        });
        return builder.Build();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "retry {Attempt} in {DelayMs} ms after: {Reason}")]
    private static partial void LogRetry(ILogger logger, int attempt, double delayMs, string? reason);
}
