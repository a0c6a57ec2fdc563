using System.Net;

namespace RegistryClient.Remote;

/// <summary>The registry does not have the model or tag asked for (404, <c>MANIFEST_UNKNOWN</c>, <c>NAME_UNKNOWN</c>).</summary>
public sealed class ModelNotFoundException : RegistryResponseException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ModelNotFoundException()
        : base("model not found")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ModelNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public ModelNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a model name and the registry's answer.</summary>
    public ModelNotFoundException(string modelName, string? registryCode, string? registryMessage, string method, string uri)
        : base(HttpStatusCode.NotFound, registryCode, registryMessage, method, uri, null)
    {
        ModelName = modelName;
    }

    /// <summary>The model that was not found.</summary>
    public string? ModelName { get; }

    /// <inheritdoc/>
    public override string Message => ModelName is null
        ? base.Message
        : $"model {ModelName} not found (check the name and tag): {base.Message}";
}
